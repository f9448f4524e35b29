"""``samples.png`` and ``reconstructions.png`` of the model as it is at each epoch's end."""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field

from genkit_core import Callback, Params, TrainingRun
from genkit_core.data import as_float
from genkit_core.images import as_images, save_grid
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
        devices = [run.device] if run.device.type == "cuda" else []
        with torch.no_grad(), torch.random.fork_rng(devices=devices):
            torch.manual_seed(spec.train.seed)
            x, y = next(iter(run.test_batches()))
            x, y = as_float(x[:32]), None if y is None else y[:32]
            pairs = as_images(
                torch.stack([x, model.reconstruct(x, y)], 1).flatten(0, 1), info.shape
            )
            samples, nrow = None, 8
            if model.can_sample:
                n, labels = spec.train.samples, None
                if model.conditioner is not None and info.num_classes is not None:
                    labels = torch.arange(info.num_classes, device=run.device).repeat_interleave(8)
                    n = len(labels)
                elif model.conditioner is not None:
                    labels = y[:1].expand(n, -1) if y is not None else None
                samples = as_images(model.sample(n, labels), info.shape)
        model.train()
        if pairs is not None:
            run.write(lambda: save_grid(run.run_dir / RECONSTRUCTIONS, pairs, nrow=16))
        if samples is not None:
            run.write(lambda: save_grid(run.run_dir / SAMPLES, samples, nrow=nrow))
