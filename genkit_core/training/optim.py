"""The optimiser a spec names, and the learning-rate schedule applied to it step by step."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from ..spec import TrainSpec

__all__ = ["make_optimizer", "set_lr"]


def make_optimizer(
    spec: TrainSpec, params: Iterable[nn.Parameter], device: torch.device, capturable: bool
) -> torch.optim.Optimizer:
    """``train.optimizer`` over ``params``; capturable (lr as a device tensor) for CUDA graphs."""
    o = spec.optimizer
    lr: float | torch.Tensor = spec.lr
    if capturable and spec.schedule.type != "constant":
        lr = torch.tensor(spec.lr, device=device)
    # torch's fused kernels: the same update, several times faster than the per-tensor loop.
    fast: dict[str, object] = {"fused": True} if device.type in ("cpu", "cuda") else {}
    if capturable:
        fast["capturable"] = True
    if o.type == "adam":
        return torch.optim.Adam(
            params, lr, betas=o.betas, eps=o.eps, weight_decay=o.weight_decay, **fast
        )
    if o.type == "adamw":
        return torch.optim.AdamW(
            params, lr, betas=o.betas, eps=o.eps, weight_decay=o.weight_decay, **fast
        )
    if o.type == "rmsprop":
        return torch.optim.RMSprop(
            params, lr, eps=o.eps, weight_decay=o.weight_decay, momentum=o.momentum,
            foreach=True, capturable=capturable,
        )  # fmt: skip
    fused = {"fused": True} if "fused" in fast else {}
    return torch.optim.SGD(params, lr, momentum=o.momentum, weight_decay=o.weight_decay, **fused)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every group's learning rate (in place when it is a tensor captured by a graph)."""
    for group in optimizer.param_groups:
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr
