"""The ``train`` section of a spec: optimiser, schedule, and how the trainer runs."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, model_validator

from ..devices import DEVICE_PATTERN
from ..interfaces.params import Params

__all__ = ["OptimizerSpec", "ScheduleSpec", "Stage", "TrainSpec"]

PositiveInt = Annotated[int, Field(gt=0)]


class OptimizerSpec(Params):
    """The optimiser (``torch.optim``); the learning rate is ``train.lr``."""

    type: Literal["adam", "adamw", "sgd", "rmsprop"] = "adam"
    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]] = (
        0.9,
        0.999,
    )
    eps: Annotated[float, Field(gt=0, le=1)] = 1e-8
    weight_decay: Annotated[float, Field(ge=0, le=10)] = 0.0
    momentum: Annotated[float, Field(ge=0, lt=1)] = 0.0


class Stage(Params):
    """One stage of a ``stages`` schedule: a relative length and the lr factor held during it."""

    length: Annotated[float, Field(gt=0, le=1e9)]
    lr_factor: Annotated[float, Field(ge=0, le=1e3)]


class ScheduleSpec(Params):
    r"""The learning-rate schedule, as a factor of ``train.lr`` at training progress t in [0, 1].

    - ``constant``: 1.
    - ``step``: :math:`\gamma^{\lfloor e / \text{every} \rfloor}` at epoch e.
    - ``exponential``: :math:`\gamma^{e}`, continuous in fractional epochs.
    - ``cosine``: :math:`m + (1-m)\,\tfrac12(1 + \cos \pi t)` with ``min_factor`` m.
    - ``stages``: piecewise constant; stage lengths are relative and scaled to ``train.epochs``,
      so the same list describes a full schedule and a proportionally compressed one.
    """

    type: Literal["constant", "step", "exponential", "cosine", "stages"] = "constant"
    gamma: Annotated[float, Field(gt=0, le=1)] = 0.1
    every: PositiveInt = 30
    min_factor: Annotated[float, Field(ge=0, le=1)] = 0.0
    stages: list[Stage] = Field(default_factory=list, max_length=10_000)

    @model_validator(mode="after")
    def _stages_given(self) -> ScheduleSpec:
        if self.type == "stages" and not self.stages:
            raise ValueError("a 'stages' schedule needs a non-empty 'stages' list")
        if self.type != "stages" and self.stages:
            raise ValueError(f"'stages' is only used by type: stages, not {self.type}")
        return self

    def factor(self, epoch: float, epochs: int) -> float:
        """The lr factor at (fractional) epoch ``epoch`` of ``epochs``."""
        if self.type == "step":
            return self.gamma ** math.floor(epoch / self.every)
        if self.type == "exponential":
            return self.gamma**epoch
        if self.type == "cosine":
            t = min(epoch / epochs, 1.0)
            return self.min_factor + (1 - self.min_factor) * 0.5 * (1 + math.cos(math.pi * t))
        if self.type == "stages":
            total = sum(s.length for s in self.stages)
            position = epoch / epochs * total
            for stage in self.stages:
                if position < stage.length:
                    return stage.lr_factor
                position -= stage.length
            return self.stages[-1].lr_factor
        return 1.0


class TrainSpec(Params):
    """How to train: epochs, batch, optimiser, device, and the safety options."""

    epochs: Annotated[int, Field(gt=0, le=1_000_000)] = 10
    batch_size: Annotated[int, Field(gt=0, le=1 << 20)] = 128
    lr: Annotated[float, Field(gt=0, le=10)] = 1e-3
    seed: Annotated[int, Field(ge=0, lt=2**63)] = 0
    device: Annotated[str, Field(pattern=DEVICE_PATTERN)] = "auto"
    optimizer: OptimizerSpec = Field(default_factory=OptimizerSpec)
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    compile: Literal["auto", "off", "cuda_graph", "torch_compile"] = "auto"
    data_placement: Literal["auto", "device", "stream"] = "auto"
    num_workers: Annotated[int, Field(ge=0, le=256)] = 2
    drop_last: bool = False
    eval_every: Annotated[int, Field(gt=0, le=1_000_000)] = 1
    eval_batch_size: Annotated[int, Field(gt=0, le=1 << 20)] = 1000
    checkpoint_every: Annotated[int, Field(gt=0)] | None = None
    clip_grad_norm: Annotated[float, Field(gt=0)] | None = None
    on_nonfinite: Literal["stop", "skip"] = "stop"
    samples: Annotated[int, Field(gt=0, le=1024)] = 64
    progress: bool = True
