r"""Callback: what acts during a training run (early stopping, an EMA of the weights, pictures).

A callback is a component like any other (``callbacks: [{type: early_stopping, patience: 5}]``)
whose methods the trainer calls at the run's events, in this order::

    on_fit_start                       after setup (and a resumed checkpoint), before step 1
    per epoch:
        on_epoch_start(epoch)          before the epoch's first batch
        on_step_end(step)              after every optimiser step
        on_evaluate_start              the epoch is over; the model is about to be measured
            on_epoch_end(metrics)      the epoch's row is logged; may call run.request_stop
            on_fit_end(metrics)        the last epoch, or a stop was requested
            on_save                    the weights of this epoch are final: draw, export them
        on_evaluate_end                measuring and saving are done; training weights back
        (checkpoint: every callback's state_dict)

Every process of a torchrun run calls the same events with the same metrics, so decisions such
as stopping agree; only ``run.is_main`` should write files. A callback's
:meth:`~Callback.state_dict` is saved in every checkpoint and given back by
:meth:`~Callback.load_state_dict` on ``--resume``, so a resumed run ends exactly as an
uninterrupted one would.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import torch
from pydantic import BaseModel

from .params import Params

if TYPE_CHECKING:
    from ..model import LatentVariableModel
    from ..spec import ModelSpec
    from .data import DataBundle

__all__ = ["Callback", "TrainingRun"]


class TrainingRun(Protocol):
    """What a callback sees of the run: the trainer, through this narrow surface."""

    @property
    def model(self) -> LatentVariableModel:
        """The model being trained (not its DistributedDataParallel wrapper)."""

    @property
    def spec(self) -> ModelSpec:
        """The resolved spec."""

    @property
    def data(self) -> DataBundle:
        """The data (train and test splits, and what they are)."""

    @property
    def run_dir(self) -> Path:
        """The run directory."""

    @property
    def device(self) -> torch.device:
        """The device the model is on."""

    @property
    def is_main(self) -> bool:
        """True in the one process that writes files (rank 0, or the only process)."""

    @property
    def epoch(self) -> int:
        """Epochs finished so far."""

    @property
    def step(self) -> int:
        """Optimiser steps taken so far."""

    @property
    def metric_names(self) -> tuple[str, ...]:
        """The measured columns an epoch row can hold: ``train_<name>`` for every epoch and
        ``test_<name>`` for the epochs with a test pass, for the loss and each of the model's
        terms (``train_loss``, ``test_kl``), known before the first step.
        """

    def request_stop(self, reason: str) -> None:
        """End training after this epoch (``reason`` is said and recorded); a resumed run
        that was stopped stays stopped.
        """

    def say(self, line: str) -> None:
        """Print one line where the run's progress goes (rank 0 only)."""

    def warn(self, message: str) -> None:
        """Say a warning and keep it in the result (``TrainResult.warnings``)."""

    def write(self, write: Callable[[], None]) -> None:
        """Call ``write`` now; the files it writes with genkit's writers
        (:func:`~genkit_core.files.atomic_write` and kin) go to disk on the background writer
        thread, after earlier writes (a failure is raised at the next write or at the end of
        the run). Compute tensors before, not in what is written in the background: a torch
        operation on the writer thread makes torch's CPU thread pools sleep and wake at every
        step, which cost a second thread most of its gain.
        """

    def test_batches(self) -> Any:
        """The test split in order, as ``(x, y)`` batches on the device (this rank's share)."""


class Callback:
    """Acts at a training run's events; every method is optional.

    Args:
        params: the validated spec section.
    """

    kind: ClassVar[str] = "callback"
    Params: ClassVar[type[BaseModel]] = Params

    def __init__(self, params: BaseModel):
        self.params = params

    def on_fit_start(self, run: TrainingRun) -> None:
        """Setup is done (a resumed run has loaded its checkpoint and this callback's state)."""

    def on_epoch_start(self, run: TrainingRun, epoch: int) -> None:
        """Epoch ``epoch`` (0-based) is about to start."""

    def on_step_end(self, run: TrainingRun, step: int) -> None:
        """Optimiser step ``step`` (1-based, counted over the run) is done. Called only for
        callbacks that override it; keep it cheap and free of host synchronisation.
        """

    def on_evaluate_start(self, run: TrainingRun) -> None:
        """The epoch's training is over; the model is about to be measured, drawn and saved
        (an EMA swaps its averaged weights in here).
        """

    def on_epoch_end(self, run: TrainingRun, metrics: dict[str, float]) -> None:
        """The epoch's row (``epoch``, ``step``, ``train_*``, ``test_*`` when measured) is
        recorded; :meth:`TrainingRun.request_stop` ends training after it.
        """

    def on_fit_end(self, run: TrainingRun, metrics: dict[str, float]) -> None:
        """Training ends after this epoch (its last, or a stop was requested); the model's
        weights now are what is saved (early stopping restores its best here).
        """

    def on_save(self, run: TrainingRun) -> None:
        """The weights of this epoch are final and about to be saved: draw or export them."""

    def on_evaluate_end(self, run: TrainingRun) -> None:
        """Measuring and saving are done; training continues from the training weights."""

    def state_dict(self) -> dict[str, Any]:
        """What exact resume needs: tensors, numbers, strings, lists and dicts of them."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (from a checkpoint)."""
