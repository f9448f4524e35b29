"""A run's checkpoints: when they are written, how a run resumes from one, and how the last good
one is restored when training goes non-finite.

A checkpoint is written at step 0, at each epoch's end, every ``train.checkpoint_every`` steps
and on Ctrl-C; each holds the model, the optimisers, the random generators (with the permutation
generator's state at the start of the epoch, so a mid-epoch resume draws the same order), the
partial epoch's sums and every callback's state (:mod:`~genkit_core.training.checkpoint`).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import NoReturn

import torch

from ..errors import NonFiniteError, RunError
from ..files import BackgroundWriter, read_tensors
from ..interfaces import DataInfo
from ..model import LatentVariableModel
from ..run import CHECKPOINT, save_weights
from ..weights import load_weights, model_tensors
from . import checkpoint
from .checkpoint import Position
from .distributed import Distributed, raised_on_every_rank
from .events import Events
from .nonfinite import agreed_nonfinite
from .results import TrainingInterrupted
from .setup import Training
from .signals import StopSignals

__all__ = ["Checkpoints"]


class Checkpoints:
    """Saves and loads the checkpoint of the run in ``run_dir`` (rank 0 writes; all wait)."""

    def __init__(
        self, run_dir: Path, model: LatentVariableModel, parts: Training, dist: Distributed,
        writer: BackgroundWriter, events: Events, info: DataInfo,
    ):  # fmt: skip
        self.run_dir, self.model, self.parts, self.dist = run_dir, model, parts, dist
        self.writer, self.events = writer, events
        self.meta = {"data": asdict(info)}
        self.path = run_dir / CHECKPOINT

    def save(self, position: Position, epoch_start_state: torch.Tensor) -> None:
        """Checkpoint ``position`` (after checking the step is finite: a non-finite state is
        never saved); ``epoch_start_state`` is the permutation generator's at the epoch's start.
        """
        self.check_finite(position.epoch)
        sums = self.dist.all_sum(self.parts.step.sums.clone())  # the partial epoch of every rank
        callbacks = self.events.state_dict()

        def save() -> None:
            perm = torch.Generator()
            perm.set_state(epoch_start_state)
            generators = {**self.parts.generators, "permutation_epoch_start": perm}
            with self.writer.deferring():  # raises an earlier write's failure
                checkpoint.save_checkpoint(
                    self.path, self.model, self.parts.optimizers.optimizers, generators,
                    position, sums, self.meta, callbacks,
                )  # fmt: skip

        self.dist.on_main(save)  # every rank waits for it, and stops if it fails

    def save_weights(self, position: Position) -> None:
        """Rank 0: ``model.safetensors`` of the model as it is, marked with ``position``."""
        with self.writer.deferring():
            save_weights(self.run_dir, self.model, {"step": position.step, "epoch": position.epoch})

    def load(self, batch_size: int) -> tuple[Position, torch.Tensor, list[str]]:
        """Restore the run's checkpoint in place: its position, the permutation generator's
        state at the start of its epoch, and the callbacks that had no saved state.

        Raises:
            RunError: the checkpoint is damaged or does not fit, or it was written mid-epoch
                with another global batch.
        """
        perm, fresh = torch.Generator(), []
        step = self.parts.step
        position = checkpoint.load_checkpoint(
            self.path, self.model, self.parts.optimizers.optimizers,
            {**self.parts.generators, "permutation_epoch_start": perm}, step.sums,
            lambda states: fresh.extend(self.events.load_state_dict(states)),
        )  # fmt: skip
        self._check_global_batch(position, batch_size)
        if not self.dist.is_main:  # the checkpoint holds every rank's sums; rank 0 carries them
            step.sums.zero_()
        step.step_t.fill_(position.step)
        step.skipped = position.skipped
        return position, perm.get_state(), fresh

    def save_and_stop(
        self, position: Position, epoch_start_state: torch.Tensor, signals: StopSignals
    ) -> NoReturn:
        """Ctrl-C: checkpoint ``position`` and the weights, wait for the disk, and stop.

        Raises:
            TrainingInterrupted: on every rank, saying how to continue.
        """
        self.save(position, epoch_start_state)
        if self.dist.is_main:
            self.save_weights(position)
        self.writer.wait()  # "checkpoint saved" must be true when it is said
        raise raised_on_every_rank(
            TrainingInterrupted(
                f"interrupted at step {position.step} (epoch {position.epoch + 1}); checkpoint "
                f"saved. Continue with: genkit train --resume {self.run_dir}",
                signals.signum,
            )
        )

    def _check_global_batch(self, position: Position, batch_size: int) -> None:
        """A mid-epoch position counts batches of its own size; refuse to read it in another."""
        old, world = position.global_batch, self.dist.world
        if position.batch == 0 or old in (0, batch_size * world):
            return
        fix = f"--set train.batch_size={old // world}" if old % world == 0 else (
            f"a number of processes that divides {old}"
        )  # fmt: skip
        raise raised_on_every_rank(
            RunError(
                f"{self.run_dir}: checkpointed mid-epoch with a global batch of {old}, but this "
                f"run's is {batch_size * world} (train.batch_size {batch_size} x {world} "
                f"processes); resume with the same global batch: {fix}"
            )
        )

    def check_finite(self, epoch: int) -> None:
        """Stop every rank if the step met a non-finite value, keeping the last good
        checkpoint's weights as the run's weights.

        Raises:
            NonFiniteError: says where, what was kept, and what to change.
        """
        found = agreed_nonfinite(self.parts.step, self.dist)
        if found is None:
            return
        (problem, where), kept = found, ""
        self.writer.wait()  # the last good checkpoint may still be on its way to the disk
        if self.dist.is_main and self.path.is_file():
            tensors, meta = read_tensors(self.path)
            load_weights(self.model, model_tensors(tensors), self.path)
            self.save_weights(Position(**meta["position"]))
            kept = (
                f" The last good checkpoint (step {meta['position']['step']}) is kept in "
                f"{self.run_dir}; genkit eval uses it."
            )
        raise raised_on_every_rank(
            NonFiniteError(
                f"training stopped: {problem.describe()}{where} (epoch {epoch + 1}).{kept} "
                "Lower train.lr, set train.clip_grad_norm, or set train.on_nonfinite: skip"
            )
        )
