"""What ``--resume`` may change, checked before anything in the run directory is touched.

A resumed run continues the same optimisation, so its ``spec.yaml`` must still describe every
step taken. ``--resume --set`` may therefore change only what does not alter the steps already
taken (:data:`RESUMABLE`): how long to train, the batch size for another number of processes,
where and how fast it runs, and how often it evaluates, checkpoints and reports. Anything else
(``latent_dim``, ``train.lr``, a component) would make the recorded spec describe a run that
never happened: it is refused, naming the fields, before the spec, the metrics or the
checkpoint change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import RunError
from ..files import read_metadata
from ..metadata import CheckpointMetadata, checked
from ..run import CHECKPOINT
from ..spec import ModelSpec, resolve
from .checkpoint import Position

__all__ = ["RESUMABLE", "check_resume", "checkpoint_position"]

RESUMABLE = (
    "train.epochs",
    "train.batch_size",
    "train.device",
    "train.compile",
    "train.data_placement",
    "train.num_workers",
    "train.progress",
    "train.eval_every",
    "train.eval_batch_size",
    "train.checkpoint_every",
    "train.samples",
    "train.on_nonfinite",
)
"""The fields ``--resume --set`` may change. ``batch_size`` is among them so that a run can
move to another number of processes (docs/distributed.md: the same global batch mid-epoch, any
at an epoch's end); ``on_nonfinite`` because a run that reached its checkpoint took no
non-finite step, whatever the setting was."""

_STRETCHED = ("cosine", "stages")
"""Schedules stretched to ``train.epochs``: a new length changes the rate of past epochs."""


def checkpoint_position(run_dir: Path) -> Position:
    """Where the run's checkpoint stands, read from its metadata alone (no tensors).

    Raises:
        RunError: there is no checkpoint, or it is not a genkit checkpoint.
    """
    path = run_dir / CHECKPOINT
    if not path.is_file():
        raise RunError(f"{run_dir}: no {CHECKPOINT} to resume from")
    return Position(**checked(CheckpointMetadata, read_metadata(path), path).position.model_dump())


def check_resume(saved: ModelSpec, new: ModelSpec, position: Position, run_dir: Path) -> None:
    """Refuse ``--set`` changes that a resumed run cannot honour.

    Raises:
        RunError: a field outside :data:`RESUMABLE` changed, ``train.epochs`` changed under a
            schedule stretched to it, or it is below the epochs already trained.
    """
    changed = _differences(resolve(saved), resolve(new))
    refused = [path for path in changed if path not in RESUMABLE]
    if refused:
        what = ", ".join(f"{p} ({changed[p][0]!r} -> {changed[p][1]!r})" for p in refused)
        raise RunError(
            f"--resume {run_dir} continues the run as it was trained, so it cannot change "
            f"{what}; it may change only {', '.join(RESUMABLE)}. To train with other "
            f"settings, start a new run (-o DIR); nothing in {run_dir} was changed"
        )
    epochs = new.train.epochs
    if "train.epochs" in changed and new.train.schedule.type in _STRETCHED:
        raise RunError(
            f"--resume {run_dir}: the {new.train.schedule.type} schedule is stretched to "
            "train.epochs, so a new train.epochs would change the learning rate of the "
            f"epochs already trained; start a new run (-o DIR) to train for {epochs} epochs"
        )
    done = position.epoch + (position.batch > 0)
    if epochs < done:
        part = " (the last in part)" if position.batch else ""
        raise RunError(
            f"--resume {run_dir}: train.epochs={epochs} is fewer than the {done} epochs already "
            f"trained{part}; a resumed run can only train longer"
        )


def _differences(old: Any, new: Any, prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """Dotted paths whose values differ between two resolved specs, with both values."""
    if isinstance(old, dict) and isinstance(new, dict):
        found: dict[str, tuple[Any, Any]] = {}
        for key in [*old, *(k for k in new if k not in old)]:
            found.update(_differences(old.get(key), new.get(key), f"{prefix}{key}."))
        return found
    return {} if old == new else {prefix.rstrip("."): (old, new)}
