"""Pruning a search: a trial tells Optuna its test loss each epoch and stops when the study's
pruner (``search.pruner``) finds it poor.

Each epoch with a test pass (``train.eval_every``) reports that epoch's ``test_loss``, the
training objective on the test split, as the trial's intermediate value at step ``epoch``
(whatever the search's final metric; see ``docs/sweeps.md``). When the pruner says so, the trial
writes ``RUN_DIR/pruned.json`` (the epoch, its test loss, why) and asks the trainer to stop after
that epoch: its checkpoint is marked stopped, so neither a resumed sweep nor ``genkit train
--resume`` trains it further, and the worker tells Optuna the trial is PRUNED. ``pruned.json``
is how ``genkit compare`` and a resumed worker know a run was pruned, without the study.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import optuna

from ..errors import RunError
from ..files import atomic_write, read_small_file
from ..interfaces import Callback, Params, TrainingRun
from ..run import PRUNED
from .plan import Sweep

__all__ = ["PRUNED", "TrialPruning", "build_pruner", "read_pruned"]

_WHY = {
    "median": "its test loss is worse than the median of the earlier trials' at that epoch",
    "hyperband": "its test loss is not among the best of its hyperband rung",
}


def build_pruner(sweep: Sweep) -> optuna.pruners.BasePruner:
    """The pruner of each of the sweep's studies (every worker builds the same one: Optuna does
    not store pruners).
    """
    section = dict(sweep.pruner or {"type": "none"})
    kind = section.pop("type")
    if kind == "median":
        return optuna.pruners.MedianPruner(**section)
    if kind == "hyperband":
        if section["max_resource"] == "auto" and not _epochs_vary(sweep):
            section["max_resource"] = int(sweep.defaults["train"]["epochs"])
        return optuna.pruners.HyperbandPruner(**section)
    return optuna.pruners.NopPruner()


def _epochs_vary(sweep: Sweep) -> bool:
    """Whether the grid or the search sets ``train.epochs`` (or the whole ``train``)."""
    keys = [a.key for a in sweep.grid] + [p.key for p in sweep.search]
    return any(k in ("train", "train.epochs") for k in keys)


class TrialPruning(Callback):
    """Reports each epoch's test loss to the trial, and stops the run when it is pruned.

    Args:
        trial: the Optuna trial being trained (its study holds the pruner).
        pruner: the pruner's name, for the reason given.
        reported: steps the trial already holds (a resumed trial): not reported again.
    """

    def __init__(self, trial: optuna.Trial, pruner: str, reported: set[int] | None = None):
        super().__init__(Params())
        self.trial, self.pruner = trial, pruner
        self.reported = set(reported or ())
        self.pruned: dict[str, Any] | None = None

    def on_epoch_end(self, run: TrainingRun, metrics: dict[str, float]) -> None:
        value, epoch = metrics.get("test_loss"), int(metrics["epoch"])
        if value is None or not math.isfinite(value):
            return  # no test pass this epoch; a diverged run fails as it would unpruned
        if epoch not in self.reported:  # Optuna warns about, and ignores, a step told twice
            self.trial.report(value, step=epoch)
            self.reported.add(epoch)
        if epoch >= run.spec.train.epochs or not self.trial.should_prune():
            return  # a trial at its last epoch is finished, not pruned
        reason = f"pruned by the {self.pruner} pruner at epoch {epoch}: {_WHY[self.pruner]}"
        self.pruned = {"epoch": epoch, "test_loss": value, "pruner": self.pruner, "reason": reason}
        if run.is_main:
            atomic_write(run.run_dir / PRUNED, json.dumps(self.pruned, indent=1).encode())
        run.request_stop(reason)


def read_pruned(run_dir: str | Path) -> dict[str, Any] | None:
    """Why the sweep's pruner stopped this run (``epoch``, ``test_loss``, ``pruner``,
    ``reason``); None for a run that was not pruned.

    Raises:
        RunError: ``pruned.json`` is there but is not a small regular file of that shape.
    """
    path = Path(run_dir) / PRUNED
    if not path.exists() and not path.is_symlink():
        return None
    try:
        found = json.loads(read_small_file(path, 1 << 16))
        if isinstance(found, dict) and isinstance(found.get("epoch"), int):
            return {**found, "reason": str(found.get("reason", "pruned"))}
    except ValueError:
        pass
    raise RunError(f"{path}: damaged (not what genkit sweep's pruner writes); delete it")
