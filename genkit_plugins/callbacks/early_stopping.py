"""Early stopping: end training when a measured metric stops improving, keeping the best
weights.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Literal

import torch
from pydantic import Field

from genkit_core import Callback, Params, SpecError, TrainingRun
from genkit_core.files import atomic_write

__all__ = ["REPORT", "EarlyStopping", "EarlyStoppingParams"]

REPORT = "early_stopping.json"
"""Written in the run directory: the best epoch, its value, and where training stopped."""


class EarlyStoppingParams(Params):
    """What to watch, which way is better, and how long to wait."""

    metric: Annotated[str, Field(pattern=r"^(train|test)_\w+$", max_length=100)] = Field(
        "test_loss", description="The epoch row's column to watch (a test_ column is measured "
        "every train.eval_every epochs)."
    )  # fmt: skip
    mode: Literal["min", "max"] = Field("min", description="Whether lower or higher is better.")
    patience: Annotated[int, Field(gt=0, le=1_000_000)] = Field(
        5, description="Stop after this many measurements without an improvement."
    )
    min_delta: Annotated[float, Field(ge=0, allow_inf_nan=False)] = Field(
        0.0, description="An improvement must beat the best by more than this."
    )
    restore_best: bool = Field(
        True, description="Save the best epoch's weights as the run's model, not the last."
    )


class EarlyStopping(Callback):
    r"""Stops training once ``metric`` has not improved by more than ``min_delta`` for
    ``patience`` measurements in a row (epochs without the metric, because no test pass ran,
    are not counted), and saves the best epoch's weights as the model (``restore_best``).

    The best weights are the ones measured: with an ``ema`` callback, its averaged weights. A
    non-finite value never improves. The run directory's ``early_stopping.json`` says which
    epoch the weights came from; the state (the best value, epoch and weights, the count of
    measurements without improvement) is checkpointed, so a resumed run stops where an
    uninterrupted one would, and a stopped run stays stopped.
    """

    Params = EarlyStoppingParams

    def __init__(self, params: EarlyStoppingParams):
        super().__init__(params)
        self.params: EarlyStoppingParams = params
        self.best: float | None = None
        self.best_epoch = self.best_step = self.waited = 0
        self.weights: dict[str, torch.Tensor] = {}

    def _improves(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        if self.best is None:
            return True
        delta = self.params.min_delta
        return value < self.best - delta if self.params.mode == "min" else value > self.best + delta

    def on_fit_start(self, run: TrainingRun) -> None:
        """Refuse a metric the run's rows will never hold, before the first step."""
        name, known = self.params.metric, run.metric_names
        if name not in known:
            raise SpecError(
                f"early_stopping.metric: the epoch rows of this model have no '{name}'; "
                f"they have {', '.join(known)}",
                field="callbacks",
            )

    def on_epoch_end(self, run: TrainingRun, metrics: dict[str, float]) -> None:
        name = self.params.metric
        if name not in metrics:
            return  # no test pass this epoch
        value = float(metrics[name])
        if self._improves(value):
            self.best, self.waited = value, 0
            self.best_epoch, self.best_step = int(metrics["epoch"]), int(metrics["step"])
            if self.params.restore_best:
                self.weights = {k: v.detach().clone() for k, v in run.model.state_dict().items()}
            return
        self.waited += 1
        if self.waited >= self.params.patience:
            run.request_stop(
                f"early_stopping: {name} has not improved for {self.waited} measurements; the "
                f"best, {self.best}, was at epoch {self.best_epoch}"
            )

    def on_fit_end(self, run: TrainingRun, metrics: dict[str, float]) -> None:
        restored = bool(self.weights) and self.best_epoch != int(metrics["epoch"])
        if restored:
            run.model.load_state_dict(self.weights)
            run.say(
                f"early_stopping: the saved weights are epoch {self.best_epoch}'s "
                f"({self.params.metric} {self.best:.4f})"
            )
        report = {
            "metric": self.params.metric, "mode": self.params.mode, "best": self.best,
            "best_epoch": self.best_epoch, "best_step": self.best_step,
            "stopped_epoch": int(metrics["epoch"]), "weights_from_epoch": (
                self.best_epoch if restored else int(metrics["epoch"])
            ),
        }  # fmt: skip
        if run.is_main:
            text = (json.dumps(report, indent=2) + "\n").encode()
            run.write(lambda: atomic_write(run.run_dir / REPORT, text))

    def state_dict(self) -> dict[str, Any]:
        return {
            "best": self.best, "best_epoch": self.best_epoch, "best_step": self.best_step,
            "waited": self.waited, "weights": self.weights,
        }  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.waited = state["best"], int(state["waited"])
        self.best_epoch, self.best_step = int(state["best_epoch"]), int(state["best_step"])
        self.weights = dict(state["weights"])
