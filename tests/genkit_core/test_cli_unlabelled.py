"""A run on unlabelled arrays (an npz with only x_train and x_test) works with every verb."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from genkit_core.cli import main


@pytest.fixture(scope="module")
def unlabelled_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("unlabelled")
    images = np.random.default_rng(0).integers(0, 256, (80, 8, 8), dtype=np.uint8)
    np.savez(root / "x.npz", x_train=images[:64], x_test=images[64:])
    spec = {
        "model": "vae",
        "latent_dim": 2,
        "data": {"type": "tensor_file", "path": str(root / "x.npz")},
        "encoder": {"type": "mlp", "hidden": [16]},
        "decoder": {"type": "mlp", "hidden": [16]},
        "likelihood": {"type": "bernoulli"},
        "train": {"epochs": 1, "batch_size": 32, "device": "cpu", "progress": False},
    }
    (root / "x.yaml").write_text(yaml.safe_dump(spec))
    assert main(["train", str(root / "x.yaml"), "-o", str(root / "run"), "-q"]) == 0
    return root / "run"


def test_the_resolved_spec_says_the_data_is_unlabelled(unlabelled_run: Path):
    # the original report: spec.yaml recorded y_train: y_train, which the file lacks
    data = yaml.safe_load((unlabelled_run / "spec.yaml").read_text())["data"]
    assert data["y_train"] is None and data["y_test"] is None


@pytest.mark.parametrize(
    "verb",
    [
        pytest.param(["eval", "{run}", "--iw-samples", "5"], id="eval"),
        pytest.param(["validate", "{run}/spec.yaml"], id="validate"),
        pytest.param(["sample", "{run}", "-n", "4"], id="sample"),
        pytest.param(["reconstruct", "{run}", "-n", "4"], id="reconstruct"),
        pytest.param(["report", "{run}", "--iw-samples", "5"], id="report"),
        pytest.param(["plot", "{run}", "latent"], id="plot-latent"),
        pytest.param(["plot", "{run}", "interpolate"], id="plot-interpolate"),
        pytest.param(["plot", "{run}", "traverse"], id="plot-traverse"),
        pytest.param(["plot", "{run}", "curves"], id="plot-curves"),
        pytest.param(["train", "--resume", "{run}", "--set", "train.epochs=2", "-q"], id="resume"),
    ],
)
def test_every_verb_works_on_the_run(unlabelled_run: Path, verb: list[str], capsys):
    status = main([part.format(run=unlabelled_run) for part in verb])
    assert status == 0, capsys.readouterr().err


def test_an_old_run_that_recorded_the_missing_key_is_told_the_fix(unlabelled_run, tmp_path, capsys):
    spec = yaml.safe_load((unlabelled_run / "spec.yaml").read_text())
    spec["data"].update(y_train="y_train", y_test="y_test")  # what genkit 0.1.0 wrote
    (tmp_path / "old.yaml").write_text(yaml.safe_dump(spec))
    assert main(["validate", str(tmp_path / "old.yaml")]) == 1
    err = capsys.readouterr().err
    assert "no array 'y_train' (data.y_train)" in err
    assert "set data.y_train to one of them (or null: the data is unlabelled)" in err
