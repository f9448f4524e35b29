"""The ``train`` section of a spec: optimiser, schedule, and how the trainer runs."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from ..devices import DEVICE_PATTERN
from ..interfaces.params import Params

__all__ = ["GroupOptimizerSpec", "OptimizerSpec", "ScheduleSpec", "Stage", "TrainSpec"]

PositiveInt = Annotated[int, Field(gt=0)]


class OptimizerSpec(Params):
    """The optimiser (``torch.optim``); the learning rate is ``train.lr``."""

    type: Literal["adam", "adamw", "sgd", "rmsprop"] = Field(
        "adam", description="The torch.optim optimiser."
    )
    betas: tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]] = Field(
        (0.9, 0.999), description="Adam's and AdamW's decay rates of the gradient's moments."
    )
    eps: Annotated[float, Field(gt=0, le=1)] = Field(
        1e-8, description="The term added to the denominator for stability (adam, adamw, rmsprop)."
    )
    weight_decay: Annotated[float, Field(ge=0, le=10)] = Field(
        0.0, description="L2 penalty (adam, sgd, rmsprop) or decoupled weight decay (adamw)."
    )
    momentum: Annotated[float, Field(ge=0, lt=1)] = Field(
        0.0, description="Momentum factor (sgd and rmsprop)."
    )


class GroupOptimizerSpec(Params):
    """One optimiser group's settings: any field left out is taken from ``train.optimizer`` and
    ``train.lr``. The groups are the objective's (``model``, and e.g. ``discriminator``).
    """

    type: Literal["adam", "adamw", "sgd", "rmsprop"] | None = Field(
        None, description="The group's torch.optim optimiser; null: train.optimizer's."
    )
    lr: Annotated[float, Field(gt=0, le=10)] | None = Field(
        None, description="The group's learning rate; null: train.lr."
    )
    betas: (
        tuple[Annotated[float, Field(ge=0, lt=1)], Annotated[float, Field(ge=0, lt=1)]] | None
    ) = Field(None, description="The group's Adam betas; null: train.optimizer's.")
    eps: Annotated[float, Field(gt=0, le=1)] | None = Field(
        None, description="The group's eps; null: train.optimizer's."
    )
    weight_decay: Annotated[float, Field(ge=0, le=10)] | None = Field(
        None, description="The group's weight decay; null: train.optimizer's."
    )
    momentum: Annotated[float, Field(ge=0, lt=1)] | None = Field(
        None, description="The group's momentum; null: train.optimizer's."
    )

    def over(self, base: OptimizerSpec, lr: float) -> tuple[OptimizerSpec, float]:
        """This group's optimiser and learning rate: its own fields over ``base`` and ``lr``."""
        own = self.model_dump(exclude_none=True, exclude={"lr"})
        return base.model_copy(update=own), self.lr if self.lr is not None else lr


class Stage(Params):
    """One stage of a ``stages`` schedule: a relative length and the lr factor held during it."""

    length: Annotated[float, Field(gt=0, le=1e9)] = Field(
        description="The stage's length relative to the other stages' (scaled to train.epochs).",
        examples=[1],
    )
    lr_factor: Annotated[float, Field(ge=0, le=1e3)] = Field(
        description="The factor of train.lr held during the stage.", examples=[1.0]
    )


class ScheduleSpec(Params):
    r"""The learning-rate schedule, as a factor of ``train.lr`` at training progress t in [0, 1].

    - ``constant``: 1.
    - ``step``: :math:`\gamma^{\lfloor e / \text{every} \rfloor}` at epoch e.
    - ``exponential``: :math:`\gamma^{e}`, continuous in fractional epochs.
    - ``cosine``: :math:`m + (1-m)\,\tfrac12(1 + \cos \pi t)` with ``min_factor`` m.
    - ``stages``: piecewise constant; stage lengths are relative and scaled to ``train.epochs``,
      so the same list describes a full schedule and a proportionally compressed one.
    """

    type: Literal["constant", "step", "exponential", "cosine", "stages"] = Field(
        "constant", description="The shape of the schedule (see above)."
    )
    gamma: Annotated[float, Field(gt=0, le=1)] = Field(
        0.1,
        description="The decay factor of step (per `every` epochs) and exponential (per epoch).",
    )
    every: PositiveInt = Field(30, description="Epochs between the decays of a step schedule.")
    min_factor: Annotated[float, Field(ge=0, le=1)] = Field(
        0.0, description="The factor a cosine schedule ends at."
    )
    stages: list[Stage] = Field(
        default_factory=list,
        max_length=10_000,
        description="The stages of a stages schedule, in order (needed by it, refused by the "
        "others).",
    )

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
            return float(self.gamma**epoch)  # float ** float is typed Any (it may be complex)
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

    epochs: Annotated[int, Field(gt=0, le=1_000_000)] = Field(
        10, description="Passes over the training set."
    )
    batch_size: Annotated[int, Field(gt=0, le=1 << 20)] = Field(
        128, description="Examples per step, over all processes together under torchrun."
    )
    lr: Annotated[float, Field(gt=0, le=10)] = Field(
        1e-3, description="The learning rate, which the schedule multiplies."
    )
    seed: Annotated[int, Field(ge=0, lt=2**63)] = Field(
        0, description="Seeds the weights, the noise and the batch order: a run is reproducible."
    )
    device: Annotated[str, Field(pattern=DEVICE_PATTERN)] = Field(
        "auto", description="cpu, cuda, cuda:N, mps, or auto (cuda when there is one)."
    )
    optimizer: OptimizerSpec = Field(
        default_factory=OptimizerSpec, description="The optimiser and its options."
    )
    optimizers: dict[
        Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)], GroupOptimizerSpec
    ] = Field(
        default_factory=dict,
        max_length=16,
        description="Settings of the objective's optimiser groups by name (model, "
        "discriminator, ...): each field given replaces train.optimizer's and train.lr's.",
    )
    schedule: ScheduleSpec = Field(
        default_factory=ScheduleSpec, description="The learning-rate schedule."
    )
    compile: Literal["auto", "off", "cuda_graph"] = Field(
        "auto",
        description="auto replays each step as a CUDA graph where it can (one GPU, data held "
        "on it, on_nonfinite: stop) and runs eagerly elsewhere; cuda_graph insists on it; off "
        "is always eager.",
    )
    threads: Literal["auto"] | Annotated[int, Field(gt=0, le=1024)] = Field(
        "auto",
        description="torch's intra-op CPU threads while training: auto picks from the model's "
        "work per step and keeps OMP_NUM_THREADS where it is set (docs/performance.md); N uses N.",
    )
    data_placement: Literal["auto", "device", "stream"] = Field(
        "auto",
        description="device holds each split on the training device, stream reads batches "
        "with DataLoader workers; auto holds a split that takes at most half the free memory.",
    )
    num_workers: Annotated[int, Field(ge=0, le=256)] = Field(
        2, description="DataLoader workers for streamed data and for reading image folders."
    )
    drop_last: bool = Field(False, description="Drop the last, smaller batch of each epoch.")
    eval_every: Annotated[int, Field(gt=0, le=1_000_000)] = Field(
        1, description="Evaluate on the test split every N epochs (and after the last)."
    )
    eval_batch_size: Annotated[int, Field(gt=0, le=1 << 20)] = Field(
        1000, description="Test examples per evaluation batch."
    )
    checkpoint_every: Annotated[int, Field(gt=0)] | None = Field(
        None,
        description="Also write a checkpoint every N steps inside an epoch; null: at epoch ends "
        "only.",
    )
    clip_grad_norm: Annotated[float, Field(gt=0)] | None = Field(
        None, description="Clip the global gradient norm to this value; null: no clipping."
    )
    on_nonfinite: Literal["stop", "skip"] = Field(
        "stop",
        description="A NaN or infinite loss or gradient stops the run with the last good "
        "checkpoint (stop), or skips that step and counts it (skip).",
    )
    samples: Annotated[int, Field(gt=0, le=1024)] = Field(
        64, description="How many prior samples samples.png shows after each epoch."
    )
    progress: bool = Field(True, description="Show a progress bar in a terminal.")

    @field_validator("compile", mode="before")
    @classmethod
    def _no_torch_compile(cls, value: object) -> object:
        if value == "torch_compile":
            raise ValueError(
                "torch_compile was removed: it ran 6x slower than cuda_graph on an H200 "
                "(docs/performance.md); use auto, which replays each step as a CUDA graph"
            )
        return value
