"""Metrics as TensorBoard event files in ``RUN_DIR/tensorboard`` (``tensorboard --logdir``).

Each ``train_<term>`` / ``test_<term>`` column becomes the scalar ``<term>/train`` /
``<term>/test``, so TensorBoard draws train and test of one term in one chart; the other
columns (``lr``, ``seconds``, ...) keep their names. The x-axis is the optimisation step.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from genkit_core import Logger, Params, SpecError
from genkit_core.files import cannot_write
from genkit_core.interfaces import RunStatus

__all__ = ["TensorBoardLogger", "TensorBoardParams", "tag"]


class TensorBoardParams(Params):
    """Where the event files go, inside the run directory, and how often they are flushed."""

    subdir: Annotated[str, Field(pattern=r"^[\w.-]+$")] = Field(
        "tensorboard", description="The folder of the event files, inside the run directory."
    )
    flush_secs: Annotated[int, Field(gt=0, le=3600)] = Field(
        30, description="How often, in seconds, pending events are written to disk."
    )


def tag(column: str) -> str:
    """The TensorBoard tag of a metrics column: ``train_loss`` -> ``loss/train``."""
    split, _, term = column.partition("_")
    return f"{term}/{split}" if split in ("train", "test") and term else column


class TensorBoardLogger(Logger):
    """Writes each row's numbers as scalars with ``torch.utils.tensorboard.SummaryWriter``."""

    Params = TensorBoardParams

    def __init__(self, params: TensorBoardParams, run_dir: Path):
        super().__init__(params, run_dir)
        self.params: TensorBoardParams = params
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise SpecError(
                "the tensorboard logger needs the tensorboard package: pip install tensorboard "
                "(or pip install 'genkit-lvm[tensorboard]'), or remove it from logging",
                field="type",
            ) from None
        self._summary_writer = SummaryWriter
        self.log_dir = self.run_dir / params.subdir
        self.writer: Any = None

    def start(self, spec: dict[str, Any], resumed_epoch: int | None) -> None:
        """A new run replaces an earlier run's event files; a resumed one adds to them
        (TensorBoard shows the last value logged at a step).
        """
        if resumed_epoch is None:
            shutil.rmtree(self.log_dir, ignore_errors=True)
        self.writer = self._summary_writer(
            log_dir=str(self.log_dir), flush_secs=self.params.flush_secs
        )

    def log(self, metrics: dict[str, float], step: int) -> None:
        try:
            for column, value in metrics.items():
                if column != "step" and isinstance(value, int | float):
                    self.writer.add_scalar(tag(column), float(value), global_step=step)
        except OSError as exc:  # the writer's thread failed (a full disk): it says so here
            raise cannot_write(self.log_dir, exc) from None

    def close(self, status: RunStatus = "finished") -> None:
        if self.writer is None:
            return
        try:
            self.writer.close()
        except OSError as exc:
            raise cannot_write(self.log_dir, exc) from None
