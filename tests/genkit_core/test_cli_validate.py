"""``genkit validate --data``: the data checks training makes before its first step, on request.

Without ``--data``, ``validate`` said ``ok`` for a spec whose data files were absent and did not
say that it had not looked; it now says so, and ``--data`` loads the data and checks it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genkit_core.cli import main


def _validate(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(["validate", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_without_data_it_says_it_did_not_load_the_data(
    tmp_path: Path, spec_dict, write_spec, capsys
):
    absent = {"type": "mnist", "root": str(tmp_path / "nowhere"), "download": False}
    spec = write_spec(spec_dict(data=absent))
    status, out, _ = _validate(capsys, str(spec))
    assert status == 0
    assert out.strip().endswith("; data not loaded; --data loads and checks it as training would)")
    status, out, err = _validate(capsys, str(spec), "--data")
    assert (status, out) == (1, "")
    assert "data 'mnist' is not in" in err and "train-images-idx3-ubyte" in err
    assert err.count("\n") == 1


def test_data_loads_and_counts_the_splits(spec_dict, write_spec, capsys):
    spec = write_spec(spec_dict())
    status, out, _ = _validate(capsys, str(spec), "--data")
    assert status == 0
    assert out.strip().endswith("; data loaded and checked: 256 train, 64 test)")


def test_data_runs_trainings_support_check(tmp_path: Path, spec_dict, write_spec, capsys):
    """Grey levels 0-255 under a Bernoulli likelihood: training refuses them, so does --data."""
    x = np.random.default_rng(0).uniform(0, 255, (40, 8)).astype(np.float32)
    np.savez(path := tmp_path / "d.npz", x_train=x[:32], x_test=x[32:])
    data = {"type": "tensor_file", "path": str(path), "y_train": None, "y_test": None}
    spec = write_spec(spec_dict(data=data))
    assert _validate(capsys, str(spec))[0] == 0  # the headers fit the spec
    status, _, err = _validate(capsys, str(spec), "--data")
    assert status == 1
    assert "train split: the bernoulli likelihood needs values in [0, 1]" in err
    assert err.count("\n") == 1


def test_data_is_for_specs_not_sweeps(capsys):
    sweep = Path(__file__).resolve().parents[2] / "examples" / "sweep_terms.yaml"
    status, _, err = _validate(capsys, str(sweep), "--data")
    assert status == 1
    assert "is a sweep file; --data loads a spec's data, not a sweep's" in err
