"""The sweep's Optuna studies, and claiming trials so that each runs exactly once.

Every trial holds an exclusive lock (``flock``) on ``DIR/.locks/<study>-<number>.lock`` for as
long as a worker runs it; the kernel drops the lock when the worker dies, ``kill -9`` included.
So a trial that Optuna records as RUNNING but whose lock is free was left by a dead worker: the
next worker to look claims it and resumes its run directory from the last checkpoint. New
trials are asked for, and orphans looked for, under one lock on ``DIR/.locks/claim.lock``, so
two workers never take the same trial and a study never gets more trials than its budget.
Locks need the workers to share DIR: one machine, or a network file system with POSIX locks
(NFSv4, Lustre, GPFS) when workers on several machines share a ``--storage`` database.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from ..errors import RunError
from ..files import cannot_lock, lock_file
from .naming import safe_name
from .plan import StudyPlan, Sweep

__all__ = [
    "LOCKS",
    "PRUNED_AT",
    "RETRIABLE",
    "RETRY_OF",
    "Claim",
    "Counts",
    "claim_next",
    "count_trials",
    "directory_lock",
    "failed_trials",
    "is_orphan",
    "open_study",
    "retry_failed",
    "sweep_trials",
]

LOCKS = ".locks"
"""DIR's lock files: the claim lock and one per trial."""

_SWEEP_ATTR = "genkit_sweep"


def open_study(storage: BaseStorage, sweep: Sweep, plan: StudyPlan) -> optuna.Study:
    """Create the study of ``plan`` or attach to it, checking that it was made by this sweep;
    its pruner is the sweep's (Optuna stores none: every worker builds its own).

    Raises:
        RunError: a study of that name holds another sweep.
    """
    from .pruning import build_pruner

    direction = sweep.direction
    study = optuna.create_study(
        storage=storage, study_name=plan.name, sampler=plan.sampler(), direction=direction,
        load_if_exists=True, pruner=build_pruner(sweep),
    )  # fmt: skip
    recorded = study.user_attrs.get(_SWEEP_ATTR)
    mine = sweep.as_dict()
    if recorded is None:
        study.set_user_attr(_SWEEP_ATTR, mine)
        study.set_user_attr("metric", sweep.metric)
        if plan.fixed:
            study.set_user_attr("fixed_params", plan.fixed)
    elif recorded != mine:
        raise RunError(
            f"the study '{plan.name}' in this storage was made by another sweep; give this one "
            "another name: (or another --storage), or run the sweep that made it"
        )
    return study


@dataclass
class Claim:
    """A trial this worker holds: its study, the trial, its recorded params (grid and searched
    keys), its name (that of its run directory), whether a dead worker began it, and its lock.
    """

    study: optuna.Study
    plan: StudyPlan
    trial: optuna.Trial
    params: dict[str, Any]
    name: str
    resumed: bool
    lock: IO[bytes]

    def release(self) -> None:
        """Give up the trial's lock (its state in the study is the caller's business)."""
        self.lock.close()


def claim_next(sweep: Sweep, storage: BaseStorage, directory: Path) -> Claim | None:
    """The next trial for this worker: one a dead worker left (resumed), else a new one from the
    first study with budget left; None when every trial is finished or held by a live worker.
    """
    with directory_lock(directory):
        for plan in sweep.studies():
            study = open_study(storage, sweep, plan)
            trials = study.get_trials(deepcopy=False)
            waiting = any(t.state == TrialState.WAITING for t in trials)  # a retry, queued
            for frozen in trials:
                if frozen.state == TrialState.RUNNING:
                    lock = _try_lock(directory, plan.name, frozen.number)
                    if lock is not None:
                        lock.close()
                        if _requeue(storage, plan, frozen):
                            return _ask(sweep, plan, study, directory, orphan=frozen.number)
            if waiting or len(trials) - len(_retried(trials)) < plan.budget:
                return _ask(sweep, plan, study, directory)
    return None


def _requeue(storage: BaseStorage, plan: StudyPlan, orphan: FrozenTrial) -> bool:
    """Put a dead worker's RUNNING trial back in the study's queue (WAITING), so that
    ``study.ask()`` takes it over with its number, parameters and attributes as it takes an
    enqueued trial. Optuna has no call that hands a RUNNING trial to another process (its own
    heartbeat mechanism fails the trial and enqueues a copy with a new number, which would move
    the trial's run directory); the storage's public ``set_trial_state_values`` allows RUNNING
    to WAITING in every storage (in memory, journal, RDB), and ``ask`` pops WAITING trials as
    it pops ``enqueue_trial``'s. False when the trial was finished after it was read: its
    worker told its result and ended between the two (it tells before it lets go of its lock).
    """
    study_id = storage.get_study_id_from_name(plan.name)
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, orphan.number)
    try:
        return storage.set_trial_state_values(trial_id, TrialState.WAITING)
    except optuna.exceptions.UpdateFinishedTrialError:
        return False


def _ask(
    sweep: Sweep, plan: StudyPlan, study: optuna.Study, directory: Path, orphan: int | None = None
) -> Claim:
    """The study's next trial (a queued one first, as Optuna pops them), held and named. A trial
    that is ``orphan`` resumes its run; ask() pops the oldest queued trial, which is the orphan:
    a trial is created or popped only when none older is waiting, under the claim lock.
    """
    study.sampler = plan.sampler()  # the grid's cell is chosen in ask (by its before_trial)
    trial = study.ask()
    study.sampler = plan.sampler(trial.number)  # TPE draws at suggest, seeded by the number
    lock = _try_lock(directory, plan.name, trial.number, wait=True)
    assert lock is not None  # only a probe under the claim lock could hold it
    return _complete(sweep, plan, trial, lock, resumed=trial.number == orphan)


RETRY_OF = "retry_of"
"""A trial's user attribute: the number of the failed trial it runs again."""

PRUNED_AT = "pruned_at_epoch"
"""A pruned trial's user attribute: the epoch after which its pruner stopped it."""

RETRIABLE = "retriable"
"""A failed trial's user attribute: it failed for a cause that may pass (a full disk, a damaged
file), so the next ``genkit sweep`` runs it again.
"""


def retry_failed(sweep: Sweep, storage: BaseStorage) -> int:
    """Queue once more each trial that failed for a cause that may have passed (see
    :data:`RETRIABLE`), with its values; how many. ``genkit sweep`` calls this as it starts, so a
    trial is retried once per command, never in a loop while its cause lasts.
    """
    queued = 0
    for plan in sweep.studies():
        if plan.name not in {s.study_name for s in storage.get_all_studies()}:
            continue
        study = optuna.load_study(study_name=plan.name, storage=storage)
        trials = study.get_trials(deepcopy=False)
        for t in failed_trials(trials):
            if t.user_attrs.get(RETRIABLE):
                study.enqueue_trial(t.params, user_attrs={RETRY_OF: t.number})
                queued += 1
    return queued


def failed_trials(trials: list[FrozenTrial]) -> list[FrozenTrial]:
    """The failed trials that no later trial runs again (a pruned trial did not fail)."""
    retried = _retried(trials)
    return [t for t in trials if t.state == TrialState.FAIL and t.number not in retried]


def _retried(trials: list[FrozenTrial]) -> set[int]:
    return {t.user_attrs[RETRY_OF] for t in trials if RETRY_OF in t.user_attrs}


def is_orphan(directory: Path, study_name: str, number: int) -> bool:
    """Whether a RUNNING trial's worker is gone (its lock is free)."""
    with directory_lock(directory):
        lock = _try_lock(directory, study_name, number)
        if lock is None:
            return False
        lock.close()
        return True


@dataclass(frozen=True)
class Counts:
    """Trials of a sweep by state: done (complete), failed, running, left to start, and
    pruned (stopped early by the search's pruner).
    """

    done: int
    failed: int
    running: int
    left: int
    pruned: int = 0

    def __str__(self) -> str:
        pruned = f", {self.pruned} pruned" if self.pruned else ""
        failed = f", {self.failed} failed" if self.failed else ""
        return f"{self.done} done{pruned}{failed}, {self.running} running, {self.left} left"


def sweep_trials(sweep: Sweep, storage: BaseStorage) -> list[tuple[StudyPlan, list[FrozenTrial]]]:
    """Every study of the sweep with its trials (none for a study not yet created)."""
    names = {s.study_name for s in storage.get_all_studies()}
    found = []
    for plan in sweep.studies():
        trials: list[FrozenTrial] = []
        if plan.name in names:
            study = optuna.load_study(study_name=plan.name, storage=storage)
            trials = study.get_trials(deepcopy=False)
        found.append((plan, trials))
    return found


def count_trials(studies: list[tuple[StudyPlan, list[FrozenTrial]]]) -> Counts:
    """How far the sweep has come (see :func:`sweep_trials`)."""
    states = [t.state for _, trials in studies for t in trials]
    started = [
        [t for t in trials if t.state != TrialState.WAITING] for _, trials in studies
    ]  # a failed trial queued again counts once, as left
    return Counts(
        done=states.count(TrialState.COMPLETE),
        failed=sum(len(failed_trials(trials)) for _, trials in studies),
        running=states.count(TrialState.RUNNING),
        left=sum(
            max(0, plan.budget - len(s) + len(_retried(trials)))
            for (plan, trials), s in zip(studies, started, strict=True)
        ),
        pruned=states.count(TrialState.PRUNED),
    )


def _complete(
    sweep: Sweep, plan: StudyPlan, trial: optuna.Trial, lock: IO[bytes], resumed: bool
) -> Claim:
    """Draw whatever params the trial lacks (all of a new one; those of an orphan whose worker
    died while drawing them) and name it.
    """
    params = {key: _suggest(trial, key, d) for key, d in plan.distributions.items()}
    params = {**plan.fixed, **params}
    name = sweep.trial_name(params, trial.number)
    trial.set_user_attr("run", name)
    return Claim(trial.study, plan, trial, params, name, resumed, lock)


def _suggest(trial: optuna.Trial, key: str, d: BaseDistribution) -> Any:
    if isinstance(d, CategoricalDistribution):
        return trial.suggest_categorical(key, d.choices)
    if isinstance(d, FloatDistribution):
        return trial.suggest_float(key, d.low, d.high, log=d.log, step=d.step)
    assert isinstance(d, IntDistribution)
    return trial.suggest_int(key, d.low, d.high, log=d.log, step=d.step)


@contextlib.contextmanager
def directory_lock(directory: Path) -> Iterator[None]:
    """Hold DIR's claim lock: one process at a time asks for trials, probes orphans or sets DIR
    up.
    """
    lock = lock_file(directory / LOCKS / "claim.lock")
    try:
        yield
    finally:
        assert lock is not None  # a waiting lock is always held
        lock.close()


def _try_lock(
    directory: Path, study_name: str, number: int, wait: bool = False
) -> IO[bytes] | None:
    """The trial's lock, held; None when another live process holds it."""
    lock = lock_file(directory / LOCKS / f"{safe_name(study_name)}-{number}.lock", wait)
    if lock is None:
        return None
    try:  # who holds it, for a person looking (the kernel's lock is what counts)
        lock.seek(0)
        lock.truncate()
        lock.write(f"{os.uname().nodename} {os.getpid()}\n".encode())
        lock.flush()
    except OSError as exc:
        lock.close()
        raise cannot_lock(lock.name, exc) from None
    return lock
