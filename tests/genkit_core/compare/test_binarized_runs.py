"""Binarised runs of different seeds are measured on one test draw (``data.binarize_seed``),
which ``eval.json`` records, so compare pools model noise only, never two test draws."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from genkit_core.compare import collect
from genkit_core.run_metrics import measure_run
from genkit_core.training import Trainer

from ...conftest import TINY_RUN

DRAW = {"binarize": "dynamic", "seed": 0}


@pytest.fixture(scope="module")
def binarized_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``runs/seed{0,1}`` dynamically binarised, and ``runs/draw1``: seed 0 on test draw 1."""
    root = tmp_path_factory.mktemp("binarized") / "runs"
    for name, extra in (("seed0", []), ("seed1", ["train.seed=1"]),
                        ("draw1", ["data.binarize_seed=1"])):  # fmt: skip
        overrides = ["data.binarize=dynamic", *extra]
        Trainer(TINY_RUN, root / name, overrides=overrides, stream=None).fit()
    return root


def test_two_seeds_are_measured_on_one_draw_and_another_draw_is_another_configuration(
    binarized_runs: Path,
):
    found, _ = collect([binarized_runs], iw_samples=5)
    by_label = {c.label: c for c in found}
    assert sorted(by_label) == ["data.binarize_seed=0", "data.binarize_seed=1"]
    pooled = by_label["data.binarize_seed=0"]
    assert [r.seed for r in pooled.runs] == [0, 1]
    for run in pooled.runs:
        assert run.metrics["test_draw"] == DRAW
        assert json.loads((run.run_dir / "eval.json").read_text())["test_draw"] == DRAW
    assert by_label["data.binarize_seed=1"].runs[0].metrics["test_draw"]["seed"] == 1


@pytest.mark.parametrize(
    "recorded",
    [pytest.param(None, id="none-recorded"), pytest.param({**DRAW, "seed": 1}, id="another")],
)
def test_a_cached_figure_of_another_test_draw_is_measured_again(
    binarized_runs: Path, tmp_path: Path, recorded
):
    run = tmp_path / "run"
    shutil.copytree(binarized_runs / "seed1", run)
    first = measure_run(run, iw_samples=5)
    cached = json.loads((run / "eval.json").read_text())
    cached["negative_elbo"] = -1.0  # as if measured on another draw
    if recorded is None:
        del cached["test_draw"]
    else:
        cached["test_draw"] = recorded
    (run / "eval.json").write_text(json.dumps(cached))
    again = measure_run(run, iw_samples=5)
    assert again["negative_elbo"] == first["negative_elbo"] and again["test_draw"] == DRAW


@pytest.mark.parametrize(("name", "kept"), [("seed0", True), ("seed1", False)])
def test_the_test_loss_of_a_run_trained_on_its_own_seeds_draw_is_left_out(
    binarized_runs: Path, tmp_path: Path, name: str, kept: bool
):
    run = tmp_path / "run"
    shutil.copytree(binarized_runs / name, run)
    (run / "eval.json").unlink(missing_ok=True)
    spec = yaml.safe_load((run / "spec.yaml").read_text())
    del spec["data"]["binarize_seed"]  # a run trained before the field: its seed drew the test
    (run / "spec.yaml").write_text(yaml.safe_dump(spec))
    assert ("test_loss" in measure_run(run, iw_samples=5)) is kept
