"""An exponential moving average of the weights, for evaluation, pictures and the saved model."""

from __future__ import annotations

from typing import Annotated, Any

import torch
from pydantic import Field
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from genkit_core import Callback, Params, TrainingRun

__all__ = ["EMA", "EMAParams"]


class EMAParams(Params):
    """How slowly the average forgets, and how often it is updated."""

    decay: Annotated[float, Field(gt=0, lt=1)] = Field(
        0.999, description="theta_ema <- decay * theta_ema + (1 - decay) * theta, per update."
    )
    every: Annotated[int, Field(gt=0, le=1_000_000)] = Field(
        1, description="Update the average every this many optimiser steps."
    )


class EMA(Callback):
    r"""Keeps :math:`\bar\theta \leftarrow d\,\bar\theta + (1 - d)\,\theta` of the trainable
    weights after every ``every``-th optimiser step (:math:`\bar\theta = \theta` at the first),
    with ``torch.optim.swa_utils.AveragedModel``; the held-out loss, the pictures, early
    stopping and the saved ``model.safetensors`` use the average, while training continues from
    the raw weights. The average is checkpointed, so a resumed run averages exactly as an
    uninterrupted one.
    """

    Params = EMAParams

    def __init__(self, params: EMAParams):
        super().__init__(params)
        self.params: EMAParams = params
        self.average: AveragedModel | None = None
        self._saved: dict[str, Any] | None = None
        self._raw: list[torch.Tensor] = []

    def on_fit_start(self, run: TrainingRun) -> None:
        fn = get_ema_multi_avg_fn(self.params.decay)  # type: ignore[no-untyped-call]  # torch leaves it unannotated
        self.average = AveragedModel(run.model, multi_avg_fn=fn)
        if self._saved is not None:
            self.average.load_state_dict(self._saved)
        # the prior fitted after training (requires_grad False) is not averaged or swapped
        self._trained = [p for p in run.model.parameters() if p.requires_grad]
        self._averaged = [
            a for a, p in zip(self.average.module.parameters(), run.model.parameters(), strict=True)
            if p.requires_grad
        ]  # fmt: skip

    def on_step_end(self, run: TrainingRun, step: int) -> None:
        if step % self.params.every == 0:
            assert self.average is not None  # built at the start of fit
            self.average.update_parameters(run.model)

    def on_evaluate_start(self, run: TrainingRun) -> None:
        assert self.average is not None  # built at the start of fit
        if int(self.average.n_averaged) == 0:
            return  # no step yet: the weights are their own average
        with torch.no_grad():
            self._raw = [p.detach().clone() for p in self._trained]
            for param, averaged in zip(self._trained, self._averaged, strict=True):
                param.copy_(averaged)

    def on_evaluate_end(self, run: TrainingRun) -> None:
        if self._raw:
            with torch.no_grad():
                for param, raw in zip(self._trained, self._raw, strict=True):
                    param.copy_(raw)
            self._raw = []

    def state_dict(self) -> dict[str, Any]:
        return {} if self.average is None else dict(self.average.state_dict())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._saved = state or None
