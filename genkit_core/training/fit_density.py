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
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from ..spec.train import OptimizerSpec
from .optim import make_optimizer

__all__ = ["fit_density"]


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
            losses = _epochs(module, opt, data, nll, epochs, batch_size, seed)
        finally:
            module.train(was_training)
            for p, was in zip(params, trainable, strict=True):
                p.requires_grad_(was)
    return losses.tolist()


def _epochs(
    module: nn.Module,
    opt: torch.optim.Optimizer,
    data: Tensor,
    nll: Callable[[Tensor], Tensor],
    epochs: int,
    batch_size: int,
    seed: int,
) -> Tensor:
    """The loop: ``(epochs,)`` mean losses, kept on the device until the end."""
    order = torch.Generator().manual_seed(seed)  # on the CPU: the same order on every device
    sums = torch.zeros(epochs, dtype=torch.float64, device=data.device)
    for epoch in range(epochs):
        shuffled = _to(torch.randperm(len(data), generator=order), data.device)
        # torch leaves Tensor.split unannotated
        for batch in shuffled.split(batch_size):  # type: ignore[no-untyped-call]
            chosen = data[batch]
            loss = nll(chosen).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]  # torch leaves it unannotated
            opt.step()
            sums[epoch] += loss.detach() * len(chosen)
    return (sums / len(data)).cpu()


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
