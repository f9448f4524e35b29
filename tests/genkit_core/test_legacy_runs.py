"""Run directories written by earlier genkit versions still load, evaluate the same and resume."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from genkit_core.cli import main
from genkit_core.run import load_run

LEGACY = Path(__file__).parents[1] / "data" / "legacy_runs"
KINDS = ["vae", "ae", "cvae"]


@pytest.fixture(params=KINDS)
def legacy_run(request, tmp_path: Path) -> Path:
    run = tmp_path / request.param
    shutil.copytree(LEGACY / request.param, run)
    return run


def test_a_legacy_run_evaluates_to_the_numbers_it_had(legacy_run: Path, capsys) -> None:
    assert main(["eval", str(legacy_run), "--json", "--iw-samples", "10", "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    expected = json.loads((legacy_run / "eval.json").read_text())
    for key in ("reconstruction", "kl", "iw_nll", "negative_elbo"):
        if key in expected:
            assert report[key] == pytest.approx(expected[key], rel=1e-5), key
    assert report["active_units"] == expected["active_units"]


def test_a_legacy_run_resumes_to_more_epochs(legacy_run: Path) -> None:
    status = main(["train", "--resume", str(legacy_run), "--set", "train.epochs=2", "--quiet"])
    assert status == 0
    model = load_run(legacy_run)
    assert model.kind == legacy_run.name
