"""Logger: where per-epoch metrics go (CSV by default; TensorBoard, MLflow or a third party's).

A logger owns whatever it writes: its files in the run directory, its remote run. genkit keeps
its own record of every epoch's numbers (:mod:`genkit_core.record`), so sweeps, compare and
reports work with any set of loggers, or none.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel

from .params import Params

__all__ = ["Logger", "RunStatus"]

RunStatus = Literal["finished", "interrupted", "failed"]
"""How a run ended: trained to its end (or stopped by a callback), Ctrl-C, or an error."""


class Logger(ABC):
    """Receives one row of metrics per epoch; only the writing process (rank 0) has loggers.

    The trainer calls :meth:`start` once, :meth:`log` after every epoch, and :meth:`close` once
    when the run ends, whatever the reason, after the run directory's files are written.

    Args:
        params: the validated spec section.
        run_dir: the run directory it may write into.
    """

    kind: ClassVar[str] = "logger"
    Params: ClassVar[type[BaseModel]] = Params

    def __init__(self, params: BaseModel, run_dir: Path):
        self.params = params
        self.run_dir = Path(run_dir)

    def start(self, spec: dict[str, Any], resumed_epoch: int | None) -> None:  # noqa: B027
        """The run begins: ``spec`` is the resolved spec as plain data.

        ``resumed_epoch`` is None for a new run (replace what an earlier run in this directory
        left, as ``--overwrite`` asked), or the epochs the resumed checkpoint had finished: rows
        of later epochs were logged by a run killed before its checkpoint and are trained again,
        so forget them.
        """

    @abstractmethod
    def log(self, metrics: dict[str, float], step: int) -> None:
        """Record one row (``epoch``, ``step``, ``train_loss``, ``test_loss``, ...)."""

    def close(self, status: RunStatus = "finished") -> None:  # noqa: B027 - optional hook
        """Flush and release files; ``status`` says how the run ended."""
