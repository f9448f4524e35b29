"""``samples.png`` and ``reconstructions.png`` of the model as it is at each epoch's end."""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field

from genkit_core import Callback, Params, TrainingRun
from genkit_core.data import as_float
from genkit_core.images import as_images, reconstruction_pairs, sample_grid, save_grid
from genkit_core.run import RECONSTRUCTIONS, SAMPLES

__all__ = ["Pictures", "PicturesParams"]


class PicturesParams(Params):
    """How often the pictures are drawn."""

    every: Annotated[int, Field(gt=0, le=1_000_000)] = Field(
        1, description="Draw every this many epochs (and always after the last)."
    )


class Pictures(Callback):
    """Draws ``samples.png`` (``train.samples`` draws from the prior; one row per class for a
    cvae) and ``reconstructions.png`` (32 test images, each beside its reconstruction) with the
    weights being saved (an EMA's, early stopping's best), seeded by ``train.seed`` so that
    epochs compare. Written on the run's background writer; data that are not images are not
    drawn.
    """

    Params = PicturesParams

    def __init__(self, params: PicturesParams):
        super().__init__(params)
        self.params: PicturesParams = params

    def on_save(self, run: TrainingRun) -> None:
        last = run.epoch >= run.spec.train.epochs
        if not run.is_main or (run.epoch % self.params.every and not last):
            return
        model, spec, info = run.model, run.spec, run.data.info
        model.eval()
        with torch.no_grad():
            x, y = next(iter(run.test_batches()))
            x, y = as_float(x[:32]), None if y is None else y[:32]
            pairs = as_images(reconstruction_pairs(model, x, y), info.shape)
            samples, nrow = None, 8
            if model.can_sample:
                condition = None if y is None else y[:1]
                grid = sample_grid(model, spec.train.samples, condition=condition,
                                   seed=spec.train.seed)  # fmt: skip
                samples, nrow = as_images(grid.x, info.shape), grid.nrow
        model.train()
        if pairs is not None:
            run.write(lambda: save_grid(run.run_dir / RECONSTRUCTIONS, pairs, nrow=16))
        if samples is not None:
            run.write(lambda: save_grid(run.run_dir / SAMPLES, samples, nrow=nrow))
