"""``search.pruner``: trials report their test loss each epoch, poor ones stop early, are told
PRUNED, stay pruned when the sweep resumes, and ``genkit compare`` lists them apart.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from genkit_core.cli import main
from genkit_core.compare import collect
from genkit_core.errors import RunError, SpecError
from genkit_core.run import CHECKPOINT, PRUNED
from genkit_core.sweep import load_sweep, open_storage
from genkit_core.sweep.pruning import TrialPruning, build_pruner, read_pruned
from genkit_core.sweep.study import PRUNED_AT, claim_next
from genkit_core.sweep.worker import run_trial
from genkit_core.training.resume import checkpoint_position

from .conftest import BASE, study_trials

SEARCH = {"train.lr": {"log_uniform": [1e-5, 3e-2]}, "trials": 12}


def _sweep(**search: Any) -> Any:
    return load_sweep(
        {"name": "p", "base": BASE, "search": {**SEARCH, **search}}, check_combinations=False
    )


def test_the_pruner_is_named_alone_or_with_its_settings_and_none_leaves_old_sweeps_as_they_were():
    assert _sweep().pruner is None and "pruner" not in _sweep().as_dict()["search"]
    assert _sweep(pruner="none").as_dict() == _sweep().as_dict()  # DIRs made before: same sweep
    median = _sweep(pruner="median")
    assert median.pruner == {"type": "median", "n_startup_trials": 5, "n_warmup_steps": 0}
    assert (
        load_sweep(median.as_dict(), check_combinations=False) == median
    )  # DIR/sweep.yaml reads back the same
    assert isinstance(build_pruner(median), optuna.pruners.MedianPruner)
    hyperband = _sweep(pruner={"type": "hyperband", "reduction_factor": 2})
    pruner = build_pruner(hyperband)
    assert isinstance(pruner, optuna.pruners.HyperbandPruner)
    assert pruner._max_resource == BASE["train"]["epochs"]  # train.epochs, neither swept
    assert isinstance(build_pruner(_sweep()), optuna.pruners.NopPruner)


@pytest.mark.parametrize(
    ("search", "said"),
    [
        ({"pruner": "median", "direction": "maximize"}, "search.pruner: the median pruner"),
        ({"pruner": "mean"}, "search.pruner"),
        ({"pruner": {"type": "median", "n_startup": 3}}, "n_startup"),
        ({"pruner": {"type": "hyperband", "reduction_factor": 1}}, "reduction_factor"),
    ],
)
def test_a_wrong_pruner_is_one_line_naming_the_field(search: dict[str, Any], said: str):
    with pytest.raises(SpecError, match=said.replace(".", r"\.")) as caught:
        _sweep(**search)
    assert "Traceback" not in str(caught.value)


def test_a_pruner_without_a_test_pass_before_the_last_epoch_is_refused():
    train = {**BASE["train"], "epochs": 3, "eval_every": 3}
    file = {"name": "p", "base": {**BASE, "train": train}, "search": {**SEARCH, "pruner": "median"}}
    said = r"search\.pruner: median has no test loss .*train\.eval_every 3"
    with pytest.raises(SpecError, match=said):
        load_sweep(file, check_combinations=False)
    file["grid"] = {"train.eval_every": [1, 3]}  # some cells measure: the grid decides
    assert load_sweep(file, check_combinations=False).pruner is not None


class _Trial:
    """What the callback uses of an Optuna trial: the values it reports, a verdict."""

    def __init__(self, prune: bool):
        self.prune, self.reports = prune, []

    def report(self, value: float, step: int) -> None:
        self.reports.append((step, value))

    def should_prune(self) -> bool:
        return self.prune


def _run(tmp_path: Path, epochs: int = 4) -> Any:
    stops: list[str] = []
    run = SimpleNamespace(
        spec=SimpleNamespace(train=SimpleNamespace(epochs=epochs)), run_dir=tmp_path,
        is_main=True, request_stop=stops.append, stops=stops,
    )  # fmt: skip
    return run


def test_each_epoch_with_a_test_pass_is_reported_once_and_a_pruned_run_stops(tmp_path: Path):
    trial, run = _Trial(prune=False), _run(tmp_path)
    callback = TrialPruning(trial, "median", reported={1})  # a resumed trial told epoch 1
    callback.on_epoch_end(run, {"epoch": 1, "test_loss": 5.0})
    callback.on_epoch_end(run, {"epoch": 2, "train_loss": 4.0})  # no test pass (eval_every)
    callback.on_epoch_end(run, {"epoch": 3, "test_loss": float("nan")})  # Optuna refuses nan
    callback.on_epoch_end(run, {"epoch": 4, "test_loss": 3.0})
    assert trial.reports == [(4, 3.0)] and not run.stops and read_pruned(tmp_path) is None

    trial.prune = True
    callback.on_epoch_end(run, {"epoch": 4, "test_loss": 3.0})  # the last epoch: finished
    assert not run.stops and callback.pruned is None

    callback = TrialPruning(trial, "median")
    callback.on_epoch_end(run, {"epoch": 2, "test_loss": 7.5})
    assert run.stops == [callback.pruned["reason"]]
    assert run.stops[0].startswith("pruned by the median pruner at epoch 2")
    assert read_pruned(tmp_path) == callback.pruned == {
        "epoch": 2, "test_loss": 7.5, "pruner": "median", "reason": run.stops[0]
    }  # fmt: skip


def test_a_damaged_pruned_file_is_a_run_error_naming_it(tmp_path: Path):
    (tmp_path / PRUNED).write_text("[1, 2]")
    with pytest.raises(Exception, match=r"pruned\.json: damaged"):
        read_pruned(tmp_path)


def test_a_resumed_trial_that_was_pruned_is_told_pruned_not_trained_again(tmp_path: Path):
    sweep = _sweep(pruner="median")
    directory = tmp_path / "out"
    directory.mkdir()
    (directory / "sweep.yaml").write_text(yaml.safe_dump(sweep.as_dict()))
    storage = open_storage(None, directory)
    claim = claim_next(sweep, storage, directory)
    assert claim is not None
    claim.resumed = True  # as a worker finds it after the one that pruned it died
    (directory / claim.name).mkdir()
    pruned = {"epoch": 1, "test_loss": 9.0, "pruner": "median", "reason": "pruned by ..."}
    (directory / claim.name / PRUNED).write_text(json.dumps(pruned))
    try:
        run_trial(sweep, claim, directory, None)
    finally:
        claim.release()
    (trial,) = study_trials(directory, "p")
    assert trial.state == TrialState.PRUNED and trial.user_attrs[PRUNED_AT] == 1
    assert not (directory / claim.name / CHECKPOINT).exists()  # nothing was trained


@pytest.mark.slow
def test_a_12_trial_search_with_the_median_pruner_prunes_and_compare_lists_them_apart(
    sweep_file, tmp_path: Path, capsys
):
    base = {**BASE, "train": {**BASE["train"], "epochs": 4, "eval_every": 1}}
    search = {**SEARCH, "metric": "test_loss", "pruner": {"type": "median", "n_startup_trials": 3}}
    path = sweep_file(name="pruned", base=base, search=search)
    out = tmp_path / "out"
    assert main(["sweep", str(path), "-o", str(out), "--quiet"]) == 0
    said = capsys.readouterr().out

    trials = study_trials(out, "pruned")
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    assert pruned and len(pruned) + len(done) == 12, [t.state for t in trials]
    assert f"{len(done)} done, {len(pruned)} pruned, 0 running, 0 left" in said
    for t in pruned:  # stopped after the epoch its pruner judged, and marked so in its run
        epoch = t.user_attrs[PRUNED_AT]
        assert 1 <= epoch < 4 and max(t.intermediate_values) == epoch
        run_dir = out / t.user_attrs["run"]
        assert read_pruned(run_dir)["epoch"] == epoch
        position = checkpoint_position(run_dir)
        assert position.stopped and position.epoch == epoch
    for t in done:
        assert sorted(t.intermediate_values) == [1, 2, 3, 4]

    assert main(["compare", str(out), "--no-page", "--json", str(tmp_path / "c.json")]) == 0
    shown = capsys.readouterr()
    assert "skipping" not in shown.err  # pruned runs are not half-trained runs to finish
    listed = shown.out.split("Pruned by the sweep")[1]
    assert all(t.user_attrs["run"] in listed for t in pruned)
    table = json.loads((tmp_path / "c.json").read_text())
    assert sorted(Path(p["run_dir"]).name for p in table["pruned"]) == sorted(
        t.user_attrs["run"] for t in pruned
    )
    compared = {Path(r["run_dir"]).name for c in table["configurations"] for r in c["runs"]}
    assert compared == {t.user_attrs["run"] for t in done}  # a pruned run never wins

    run_dir = out / pruned[0].user_attrs["run"]
    assert main(["train", "--resume", str(run_dir), "--quiet"]) == 0
    assert "a callback stopped" in capsys.readouterr().out  # not "has trained all 4 epochs"
    with pytest.raises(RunError, match=r"among 1 run directories \(1 pruned by a sweep"):
        collect([run_dir], iw_samples=5)

    assert main(["sweep", str(path), "-o", str(out), "--quiet"]) == 0  # resumed: nothing to do
    assert [t.state for t in study_trials(out, "pruned")] == [t.state for t in trials]
