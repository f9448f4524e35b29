"""Rank 0's account of a run: its spec, the record of each epoch, its loggers, its epoch lines."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from ..components import build_component
from ..interfaces import Logger, RunStatus
from ..record import append_row, drop_rows_after
from ..registry import Registry
from ..run import save_spec
from ..spec import ModelSpec
from ..spec.loading import resolve

__all__ = ["Recorder"]


class Recorder:
    """Writes ``spec.yaml``, appends each epoch's row to the run's record
    (:mod:`genkit_core.record`) and hands it to the spec's loggers; says the epoch's line.
    """

    def __init__(
        self, run_dir: Path, spec: ModelSpec, registry: Registry, say: Callable[[str], None]
    ):
        self.run_dir, self.spec, self.registry, self.say = run_dir, spec, registry, say
        self.loggers: list[Logger] = []

    def start(self, resumed_epoch: int | None) -> None:
        """Save the spec; forget rows after a resumed checkpoint; start each logger."""
        save_spec(self.run_dir, self.spec)
        if resumed_epoch is not None:
            drop_rows_after(self.run_dir, resumed_epoch)
        for section in self.spec.logging:
            logger = build_component("logging", section, self.registry, run_dir=self.run_dir)
            self.loggers.append(logger)
            logger.start(resolve(self.spec), resumed_epoch)

    def record(self, row: dict[str, float], seconds: float) -> None:
        """One epoch's row into the record and every logger; its line (every tenth epoch,
        the first and last, and any whose every step was skipped).
        """
        append_row(self.run_dir, row)
        for logger in self.loggers:
            logger.log(row, int(row["step"]))
        epochs, epoch = self.spec.train.epochs, int(row["epoch"])
        skipped = math.isnan(row["train_loss"])  # skipping keeps non-finite steps out of it
        test = f"  test {row['test_loss']:.3f}" if "test_loss" in row else ""
        trained = "train nan (every step was skipped: non-finite)" if skipped else (
            f"train {row['train_loss']:.3f}"
        )  # fmt: skip
        if epoch % max(1, epochs // 10) == 0 or epoch in (1, epochs) or skipped:
            self.say(f"epoch {epoch}/{epochs}  {trained}{test}  ({seconds:.1f} s)")

    def close(self, status: RunStatus) -> None:
        """Close every logger (each, even when one fails; the first failure is raised)."""
        failure: BaseException | None = None
        for logger in self.loggers:
            try:
                logger.close(status)
            except Exception as exc:
                failure = failure or exc
        if failure is not None:
            raise failure
