"""What a training run returns, and how Ctrl-C ends one."""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path

from ..errors import RunError

__all__ = ["TrainResult", "TrainingInterrupted"]


class TrainingInterrupted(RunError):  # noqa: N818 - Ctrl-C is no error
    """Ctrl-C (or SIGTERM) stopped training; a checkpoint was saved and ``--resume`` continues.

    ``exit_status`` is the shell's convention for the signal: 130 for SIGINT, 143 for SIGTERM.
    """

    def __init__(self, message: str, signum: int = signal.SIGINT):
        super().__init__(message)
        self.exit_status = 128 + int(signum)


@dataclass(frozen=True)
class TrainResult:
    """Where a finished run is, its last metrics row, its steps in all and those of this call
    (0 when a resumed run had nothing left to train), and warnings about the result.
    """

    run_dir: Path
    metrics: dict[str, float]
    steps: int
    new_steps: int = 0
    warnings: tuple[str, ...] = ()
    stopped: bool = False
    """A callback (early stopping, a sweep's pruner) ended training before ``train.epochs``."""
