r"""One minibatch loop that fits a density to a tensor of data by maximum likelihood.

A prior ``fitted_after_training`` (an autoregressive model of a codebook's indices, a flow or a
small VAE over the codes) is a network trained after the model, on the training codes. They all
fit the same way, so they share this loop instead of each keeping its own: a fresh start seeded by
``seed``, ``epochs`` passes over the data in an order drawn from ``seed``, minibatches of
``batch_size``, and the optimiser :func:`~genkit_core.training.optim.make_optimizer` builds for
the trainer (Adam by default) minimising the mean of ``nll`` over each batch:

.. math:: \theta \leftarrow \theta - \mathrm{opt}\big(\nabla_\theta\,
   \tfrac{1}{|B|}\textstyle\sum_{i \in B} -\log p_\theta(x_i)\big)

The same seed and data give the same parameters; a fit leaves the global random state as it
found it. On CUDA no step waits for the device: the order of each epoch is copied over once
and the losses are summed on the device, read back once at the end.

Inside :func:`resumable` a fit can be stopped and continued: at the end of each epoch it writes
its whole state (the module, the optimiser, the RNG states, the position and the loss sums) to
one checkpoint file atomically, with the trainer's :func:`~genkit_core.training.save_checkpoint`;
Ctrl-C (or SIGTERM) saves it after the current step and raises
:class:`~genkit_core.training.TrainingInterrupted`; and a fit of the same data and settings that
finds the file continues from it, ending with the parameters an uninterrupted fit ends with,
bit for bit. A file of another fit (other data, seed, sizes), or one that cannot be read, is
ignored and replaced.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from ..errors import RunError
from ..files import content_hash, read_metadata
from ..spec.train import OptimizerSpec
from .checkpoint import Position, load_checkpoint, save_checkpoint
from .optim import make_optimizer
from .results import TrainingInterrupted
from .signals import StopSignals

__all__ = ["fit_density", "resumable"]

_CHECKPOINT: ContextVar[Path | None] = ContextVar("fit_density_checkpoint", default=None)


@contextlib.contextmanager
def resumable(checkpoint: Path) -> Iterator[None]:
    """Make the :func:`fit_density` calls inside checkpoint to, and continue from, this file.

    A prior's ``fit(codes)`` calls :func:`fit_density` itself; the caller that knows where the
    fit may keep its state (``genkit fit-prior``) wraps the call in this context.
    """
    token = _CHECKPOINT.set(checkpoint)
    try:
        yield
    finally:
        _CHECKPOINT.reset(token)


def fit_density(
    module: nn.Module,
    data: Tensor,
    nll: Callable[[Tensor], Tensor],
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    optimizer: OptimizerSpec | None = None,
    fresh: bool = True,
) -> list[float]:
    """Fit ``module``'s parameters to ``data`` by minimising ``nll`` over minibatches.

    Args:
        module: what is fitted; every parameter of it is trained in training mode (whatever its
            ``requires_grad`` and mode were, which are restored afterwards).
        data: ``(N, ...)`` examples, on the module's device; batches are rows of it.
        nll: a batch ``(B, ...)`` -> ``(B,)`` negative log-likelihoods in nats (or a scalar
            already averaged); the loss of a step is their mean. Random draws inside it use
            torch's global generator, seeded by ``seed`` for the fit.
        epochs: passes over the data.
        batch_size: examples per step (the last batch of an epoch may be smaller).
        lr: the learning rate.
        seed: seeds the fresh initialisation, the order of the data and ``nll``'s draws.
        optimizer: the optimiser, as ``train.optimizer`` names one; Adam with its defaults when
            None.
        fresh: start from a fresh initialisation (``reset_parameters`` of each submodule), so
            that the fit depends on the data alone, not on earlier fits.

    Returns:
        The mean loss of each epoch (``epochs`` numbers), read from the device once.

    Raises:
        ValueError: ``data`` is empty, or ``epochs`` or ``batch_size`` is below 1.
    """
    if len(data) == 0:
        raise ValueError("fit_density needs at least one example to fit to")
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be at least 1, not {epochs}, {batch_size}")
    params = list(module.parameters())
    trainable, was_training = [p.requires_grad for p in params], module.training
    devices = [data.device] if data.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.enable_grad():
        torch.manual_seed(seed)
        if fresh:
            _reset(module)
        module.requires_grad_(True)
        module.train()  # dropout and batch norm as in training; the trainer fits in eval mode
        try:
            opt = make_optimizer(optimizer or OptimizerSpec(), lr, params, data.device, False)
            loop = _Loop(module, opt, data, nll, epochs, batch_size, seed)
            fit = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "seed": seed,
                   "optimizer": (optimizer or OptimizerSpec()).model_dump(mode="json"),
                   "data": content_hash({"data": data})}  # fmt: skip
            losses = loop.run(_Saving.of(_CHECKPOINT.get(), fit))
        finally:
            module.train(was_training)
            for p, was in zip(params, trainable, strict=True):
                p.requires_grad_(was)
    return losses.tolist()


@dataclass
class _Saving:
    """Where a resumable fit keeps its state, and what identifies the fit (its metadata)."""

    path: Path
    fit: dict[str, object]

    @classmethod
    def of(cls, path: Path | None, fit: dict[str, object]) -> _Saving | None:
        return None if path is None else cls(path, fit)

    def is_ours(self) -> bool:
        """Whether the file holds a checkpoint of this very fit (else it is started over)."""
        if not self.path.is_file():
            return False
        try:
            return read_metadata(self.path).get("fit") == self.fit
        except RunError:  # torn or foreign: the fit starts over and replaces it
            return False


@dataclass
class _Loop:
    """The loop's state: ``(epochs,)`` loss sums kept on the device until the end."""

    module: nn.Module
    opt: torch.optim.Optimizer
    data: Tensor
    nll: Callable[[Tensor], Tensor]
    epochs: int
    batch_size: int
    seed: int

    def run(self, saving: _Saving | None) -> Tensor:
        order = torch.Generator().manual_seed(self.seed)  # on the CPU: the same on every device
        sums = torch.zeros(self.epochs, dtype=torch.float64, device=self.data.device)
        start = Position()
        if saving is not None and saving.is_ours():
            start = load_checkpoint(saving.path, self.module, {"fit": self.opt},
                                    {"order": order}, sums)  # fmt: skip
        with StopSignals() if saving is not None else contextlib.nullcontext() as stop:
            for epoch in range(start.epoch, self.epochs):
                at_start = order.get_state()  # a resumed epoch draws its order again from it
                shuffled = _to(torch.randperm(len(self.data), generator=order), self.data.device)
                # torch leaves Tensor.split unannotated
                batches = shuffled.split(self.batch_size)  # type: ignore[no-untyped-call]
                skip = start.batch if epoch == start.epoch else 0
                for i, batch in enumerate(batches[skip:], start=skip + 1):
                    sums[epoch] += self._step(batch)
                    if stop is not None and stop.requested and i < len(batches):
                        self._save(saving, at_start, Position(epoch, i), sums)
                        raise self._stopped(saving, stop, f"in epoch {epoch + 1}")
                self._save(saving, order.get_state(), Position(epoch + 1, 0), sums)
                if stop is not None and stop.requested and epoch + 1 < self.epochs:
                    raise self._stopped(saving, stop, f"after epoch {epoch + 1}")
        return (sums / len(self.data)).cpu()

    def _step(self, batch: Tensor) -> Tensor:
        chosen = self.data[batch]
        loss = self.nll(chosen).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()  # type: ignore[no-untyped-call]  # torch leaves it unannotated
        self.opt.step()
        return loss.detach() * len(chosen)

    def _stopped(self, saving: _Saving | None, stop: StopSignals, when: str) -> Exception:
        where = "" if saving is None else f", its state saved in {saving.path}"
        return TrainingInterrupted(
            f"the fit stopped {when} of {self.epochs}{where}; the same command continues it",
            stop.signum,
        )

    def _save(self, saving: _Saving | None, order: Tensor, at: Position, sums: Tensor) -> None:
        if saving is None:
            return
        generator = torch.Generator()
        generator.set_state(order)
        save_checkpoint(saving.path, self.module, {"fit": self.opt}, {"order": generator}, at,
                        sums, extra={"fit": saving.fit})  # fmt: skip


def _to(indices: Tensor, device: torch.device) -> Tensor:
    """``indices`` on ``device``; to CUDA through pinned memory, so the copy does not wait for
    the steps queued before it (a plain copy from pageable memory synchronises the stream).
    """
    if device.type != "cuda":
        return indices.to(device)
    return indices.pin_memory().to(device, non_blocking=True)


def _reset(module: nn.Module) -> None:
    for sub in module.modules():
        reset = getattr(sub, "reset_parameters", None)
        if callable(reset):
            reset()
