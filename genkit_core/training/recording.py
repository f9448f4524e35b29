"""Rank 0's account of a run: its spec, the record of each epoch, its loggers, its epoch lines."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import torch
from tqdm import tqdm

from ..components import build_component
from ..interfaces import Logger, RunStatus
from ..record import append_row, drop_rows_after
from ..registry import Registry
from ..run import save_spec
from ..spec import ModelSpec, TrainSpec
from ..spec.loading import resolve

__all__ = ["Recorder", "progress_bar", "running_loss", "train_row"]


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


def train_row(
    epoch: int, step: int, seconds: float, train: TrainSpec, names: Sequence[str],
    sums: torch.Tensor, skipped: int | None,
) -> dict[str, float]:  # fmt: skip
    """An epoch's row before its test pass: ``epoch`` (1-based), ``step``, ``seconds``, the
    ``lr`` the next epoch starts from, and the mean of each ``train_<name>`` over the epoch's
    examples (``sums``: the example count, then each name's sum over every rank); nan when
    every step was skipped. ``skipped_steps`` when steps are skipped (``skipped``).
    """
    n = int(sums[0])  # 0 when every step was skipped: the mean of nothing is nan, not 0
    lr = train.lr * train.schedule.factor(epoch + 1, train.epochs)
    row = {"epoch": epoch + 1, "step": step, "seconds": round(seconds, 4), "lr": lr}
    means = (float(v) / n if n else math.nan for v in sums[1:].tolist())
    row.update({f"train_{k}": v for k, v in zip(names, means, strict=True)})
    if skipped is not None:
        row["skipped_steps"] = skipped
    return row


def progress_bar(
    stream: TextIO | None, show: bool, epoch: int, epochs: int, steps: int, first: int
) -> tqdm[Any]:
    """The epoch's bar, on a terminal only (``show``: asked for, in the writing process)."""
    terminal = stream is not None and hasattr(stream, "isatty") and stream.isatty()
    return tqdm(
        total=steps, initial=first, desc=f"epoch {epoch + 1}/{epochs}", leave=False,
        disable=not (show and terminal), file=stream, dynamic_ncols=True,
    )  # fmt: skip


def running_loss(sums: torch.Tensor, device: torch.device) -> str:
    """The epoch's mean loss so far, for the bar (not on CUDA: reading it would synchronise;
    the epoch line reports it).
    """
    if device.type == "cuda":
        return ""
    n, loss = float(sums[0]), float(sums[1])
    return f"loss {loss / n:.3f}" if n else ""
