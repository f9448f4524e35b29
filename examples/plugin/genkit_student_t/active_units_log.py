"""A callback: how many latent units are active after each epoch, in ``active_units.jsonl``."""

from __future__ import annotations

import json
from typing import Annotated, Any

import torch
from pydantic import Field

from genkit_core import Callback, Params, TrainingRun
from genkit_core.data import as_float
from genkit_core.files import atomic_write


class ActiveUnitsParams(Params):
    """When a unit counts as active."""

    threshold: Annotated[float, Field(gt=0)] = Field(
        0.01, description="A unit is active when its posterior mean varies more than this."
    )


class ActiveUnitsLog(Callback):
    """Counts the active latent units (the variance of each posterior mean over the test
    examples above ``threshold``, Burda et al. 2016) after each epoch, and writes every
    epoch's count to ``RUN_DIR/active_units.jsonl``. Its state is the counts so far, so a
    resumed run writes the same file as an uninterrupted one.
    """

    Params = ActiveUnitsParams

    def __init__(self, params: ActiveUnitsParams):
        super().__init__(params)
        self.params: ActiveUnitsParams = params
        self.counts: list[int] = []

    def on_epoch_end(self, run: TrainingRun, metrics: dict[str, float]) -> None:
        model = run.model
        model.eval()
        with torch.no_grad():
            means = torch.cat(
                [model.encode(as_float(x), y).flatten(1) for x, y in run.test_batches()]
            )
        model.train()
        self.counts.append(int((means.var(dim=0) > self.params.threshold).sum()))
        if run.is_main:
            lines = "".join(
                json.dumps({"epoch": i + 1, "active": c}) + "\n" for i, c in enumerate(self.counts)
            )
            run.write(lambda: atomic_write(run.run_dir / "active_units.jsonl", lines.encode()))

    def state_dict(self) -> dict[str, Any]:
        return {"counts": list(self.counts)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.counts = [int(c) for c in state["counts"]]
