"""The optimisers of a model's parameter groups, and the learning-rate schedule applied to them.

An objective names its groups (``model``, and e.g. ``discriminator``); each gets the optimiser
of ``train.optimizer`` at ``train.lr``, with the fields ``train.optimizers.<group>`` sets in
their place.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from ..errors import PluginError, SpecError
from ..interfaces import spec_type
from ..model import LatentVariableModel
from ..spec import TrainSpec
from ..spec.train import OptimizerSpec

__all__ = ["OptimizerGroups", "make_optimizer", "parameter_groups", "set_lr"]


class OptimizerGroups:
    """One optimiser per parameter group, with the group's base learning rate.

    Raises:
        SpecError: ``train.optimizers`` names a group the objective does not have.
    """

    def __init__(
        self,
        train: TrainSpec,
        groups: dict[str, list[nn.Parameter]],
        device: torch.device,
        capturable: bool,
        objective: str = "objective",
    ):
        unknown = sorted(set(train.optimizers) - set(groups))
        if unknown:
            raise SpecError(
                f"the {objective} has the optimiser groups {', '.join(groups)}, not "
                f"{', '.join(unknown)}",
                field=f"train.optimizers.{unknown[0]}",
            )
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.base_lr: dict[str, float] = {}
        for name, params in groups.items():
            spec, lr = train.optimizer, train.lr
            if name in train.optimizers:
                spec, lr = train.optimizers[name].over(spec, lr)
            scheduled = capturable and train.schedule.type != "constant"
            self.optimizers[name] = make_optimizer(spec, lr, params, device, capturable, scheduled)
            self.base_lr[name] = lr

    def __getitem__(self, name: str) -> torch.optim.Optimizer:
        return self.optimizers[name]

    def scale_lr(self, factor: float) -> None:
        """Set every group's learning rate to its base rate times the schedule's ``factor``."""
        for name, optimizer in self.optimizers.items():
            set_lr(optimizer, self.base_lr[name] * factor)

    def follow_schedule(self, train: TrainSpec, epochs_done: float) -> None:
        """Set the learning rates ``train.schedule`` gives after ``epochs_done`` (fractional)
        epochs; a constant schedule leaves them alone.
        """
        if train.schedule.type != "constant":
            self.scale_lr(train.schedule.factor(epochs_done, train.epochs))


def make_optimizer(
    spec: OptimizerSpec,
    lr: float,
    params: Iterable[nn.Parameter],
    device: torch.device,
    capturable: bool,
    tensor_lr: bool = False,
) -> torch.optim.Optimizer:
    """The optimiser ``spec`` names over ``params``; capturable for CUDA graphs (with the lr as a
    device tensor when a schedule changes it between replays).
    """
    rate: float | torch.Tensor = torch.tensor(lr, device=device) if tensor_lr else lr
    # torch's fused kernels: the same update, several times faster than the per-tensor loop.
    fast: dict[str, bool] = {"fused": True} if device.type in ("cpu", "cuda") else {}
    if capturable:
        fast["capturable"] = True
    o = spec
    if o.type == "adam":
        return torch.optim.Adam(
            params, rate, betas=o.betas, eps=o.eps, weight_decay=o.weight_decay, **fast
        )
    if o.type == "adamw":
        return torch.optim.AdamW(
            params, rate, betas=o.betas, eps=o.eps, weight_decay=o.weight_decay, **fast
        )
    if o.type == "rmsprop":
        return torch.optim.RMSprop(
            params, rate, eps=o.eps, weight_decay=o.weight_decay, momentum=o.momentum,
            foreach=True, capturable=capturable,
        )  # fmt: skip
    fused = {"fused": True} if "fused" in fast else {}
    return torch.optim.SGD(params, rate, momentum=o.momentum, weight_decay=o.weight_decay, **fused)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every group's learning rate (in place when it is a tensor captured by a graph)."""
    for group in optimizer.param_groups:
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr


def parameter_groups(model: LatentVariableModel) -> dict[str, list[nn.Parameter]]:
    """The objective's parameter groups, checked: every trainable parameter in exactly one.

    Raises:
        PluginError: the objective's groups overlap, leave a parameter out, or are not the
            groups it declares.
    """
    groups = model.objective.parameter_groups(model)
    name = f"'{spec_type(model.objective)}'"
    if tuple(groups) != model.objective.groups:
        raise PluginError(
            f"objective {name} returned the groups {tuple(groups)} but declared "
            f"{model.objective.groups}"
        )
    seen: dict[int, str] = {}
    for group, params in groups.items():
        for p in params:
            if id(p) in seen:
                raise PluginError(f"objective {name} puts a parameter in {seen[id(p)]} and {group}")
            seen[id(p)] = group
    left = [n for n, p in model.named_parameters() if p.requires_grad and id(p) not in seen]
    if left:
        raise PluginError(f"objective {name} leaves parameters in no group: {', '.join(left[:5])}")
    return groups
