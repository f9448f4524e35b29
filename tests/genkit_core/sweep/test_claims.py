"""Claiming trials: each is held by one worker, a dead worker's trial is taken over with its
name and parameters, and a study never gets more trials than its budget.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from optuna.trial import TrialState

from genkit_core.cli import main
from genkit_core.sweep.study import claim_next, is_orphan, open_study


def test_held_trials_are_not_claimed_and_the_budget_is_not_exceeded(grid):
    sweep, directory, storage = grid
    claims = [claim_next(sweep, storage, directory) for _ in range(3)]
    assert claim_next(sweep, storage, directory) is None  # all three held by live "workers"
    assert sorted(c.params["train.seed"] for c in claims) == [0, 1, 2]
    assert [c.name for c in claims] == [f"seed={c.params['train.seed']}" for c in claims]
    assert not any(c.resumed for c in claims)
    for c in claims:
        c.study.tell(c.trial, 1.0)
        c.release()
    assert claim_next(sweep, storage, directory) is None
    trials = open_study(storage, sweep, sweep.studies()[0]).get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3


def test_a_dead_workers_trial_is_resumed_under_its_own_name(grid):
    sweep, directory, storage = grid
    first = claim_next(sweep, storage, directory)
    assert not is_orphan(directory, "g", first.trial.number)
    first.release()  # the worker dies: its lock goes, the trial stays RUNNING
    assert is_orphan(directory, "g", first.trial.number)
    again = claim_next(sweep, storage, directory)
    assert again.resumed
    assert (again.trial.number, again.name, again.params) == (
        first.trial.number, first.name, first.params
    )  # fmt: skip
    assert len(open_study(storage, sweep, sweep.studies()[0]).get_trials()) == 1


def test_a_trial_whose_worker_died_before_drawing_its_cell_gets_an_unused_one(grid):
    sweep, directory, storage = grid
    plan = sweep.studies()[0]
    study = open_study(storage, sweep, plan)
    study.sampler = plan.sampler()
    study.ask()  # trial 0 created, its cell never drawn: the worker died here
    claims = [claim_next(sweep, storage, directory) for _ in range(3)]
    assert claims[0].resumed and claims[0].trial.number == 0
    assert sorted(c.params["train.seed"] for c in claims) == [0, 1, 2]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        pytest.param("other", "holds another sweep (its sweep.yaml differs in base", id="other"),
        pytest.param("files", "holds files and no sweep.yaml; choose another -o", id="files"),
    ],
)
def test_a_sweep_refuses_a_directory_holding_something_else(
    sweep_file, tmp_path: Path, capsys, setup, message
):
    out = tmp_path / "out"
    out.mkdir()
    if setup == "other":
        (out / "sweep.yaml").write_text("name: a\nbase: {}\ngrid: {train.seed: [5]}\n")
    else:
        (out / "notes.txt").write_text("mine")
    path = sweep_file(name="a", grid={"train.seed": [0]})
    assert main(["sweep", str(path), "-o", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (out / "study.journal").exists()


@pytest.mark.parametrize("storage_kind", ["journal", "sqlite", "memory"])
def test_an_orphan_of_a_search_is_taken_over_in_every_storage(tmp_path: Path, storage_kind):
    """Through Optuna's public API (back to WAITING, then ask): the same number, parameters and
    run name in each storage Optuna ships; a new trial after it gets the next number."""
    import optuna

    from genkit_core.sweep import load_sweep, open_storage

    from .conftest import BASE

    search = {"trials": 3, "train.lr": {"log_uniform": [1e-4, 1e-2]}, "seed": 5}
    sweep = load_sweep({"name": "s", "base": BASE, "search": search})
    directory = tmp_path / "out"
    directory.mkdir()
    storage = {
        "journal": lambda: open_storage(None, directory),
        "sqlite": lambda: optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 's.db'}"),
        "memory": optuna.storages.InMemoryStorage,
    }[storage_kind]()
    first = claim_next(sweep, storage, directory)
    first.release()  # the worker dies
    again = claim_next(sweep, storage, directory)
    assert again.resumed and (again.trial.number, again.name, again.params) == (
        first.trial.number, first.name, first.params
    )  # fmt: skip
    fresh = claim_next(sweep, storage, directory)
    assert not fresh.resumed and fresh.trial.number == first.trial.number + 1
    states = [t.state for t in again.study.get_trials()]
    assert states == [TrialState.RUNNING, TrialState.RUNNING]


def test_a_searched_trial_draws_what_its_number_and_seed_draw(tmp_path: Path):
    """TPE's draws of trial k are seeded by (seed, k) whichever worker asks, and however the
    trial came to be asked (new, or taken over from a dead worker)."""
    from genkit_core.sweep import load_sweep, open_storage

    from .conftest import BASE

    def lrs(taken_over: bool) -> list[float]:
        search = {"trials": 2, "train.lr": {"log_uniform": [1e-4, 1e-2]}, "seed": 5}
        sweep = load_sweep({"name": "s", "base": BASE, "search": search})
        directory = tmp_path / f"out{taken_over}"
        directory.mkdir()
        storage = open_storage(None, directory)
        first = claim_next(sweep, storage, directory)
        if taken_over:
            first.release()
            first = claim_next(sweep, storage, directory)
        return [first.params["train.lr"], claim_next(sweep, storage, directory).params["train.lr"]]

    assert lrs(False) == lrs(True)


def test_a_trial_finished_after_it_was_read_as_running_is_not_taken_over(grid, monkeypatch):
    """A worker tells its result and ends between another's reading of the trials and its probe
    of the lock: the trial is left finished, and the claim moves on to a new one."""
    import optuna

    sweep, directory, storage = grid
    first = claim_next(sweep, storage, directory)
    stale = first.study.get_trials(deepcopy=True)  # trial 0 RUNNING
    first.study.tell(first.trial, 1.0)
    first.release()
    real = optuna.Study.get_trials
    calls = iter([stale])
    monkeypatch.setattr(
        optuna.Study, "get_trials",
        lambda self, *a, **k: next(calls, None) or real(self, *a, **k),
    )  # fmt: skip
    second = claim_next(sweep, storage, directory)
    assert not second.resumed and second.trial.number == 1
    assert first.study.get_trials()[0].state == TrialState.COMPLETE
