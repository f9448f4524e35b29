"""Logger: where per-epoch metrics go (CSV by default; TensorBoard or a third party's tracker)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel

from .params import Params

__all__ = ["Logger"]


class Logger(ABC):
    """Receives one row of metrics per evaluation; only the writing process (rank 0) has loggers.

    Args:
        params: the validated spec section.
        run_dir: the run directory it may write into.
    """

    kind: ClassVar[str] = "logger"
    Params: ClassVar[type[BaseModel]] = Params

    def __init__(self, params: BaseModel, run_dir: Path):
        self.params = params
        self.run_dir = Path(run_dir)

    @abstractmethod
    def log(self, metrics: dict[str, float], step: int) -> None:
        """Record one row (``epoch``, ``step``, ``train_loss``, ``test_loss``, ...)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Flush and release files."""
