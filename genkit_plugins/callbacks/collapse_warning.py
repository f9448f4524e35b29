"""A warning when training ends with a collapsed posterior: no latent unit is active."""

from __future__ import annotations

import torch

from genkit_core import Callback, Params, TrainingRun
from genkit_core.evaluation import ACTIVE_UNIT_THRESHOLD, active_units

__all__ = ["CollapseWarning"]


class CollapseWarning(Callback):
    r"""At the end of training, warns if no latent unit of a variational model is active: the
    variance over the test examples of every posterior mean is below 0.01 (Burda et al., 2016),
    so the decoder ignores z. The warning is said, kept in ``TrainResult.warnings`` and printed
    by ``genkit train``.
    """

    Params = Params

    def on_fit_end(self, run: TrainingRun, metrics: dict[str, float]) -> None:
        model = run.model
        if not model.is_variational or not run.is_main:
            return
        model.eval()
        with torch.no_grad():
            active, _ = active_units(model, run.test_batches())
        model.train()
        if active:
            return
        epochs = run.epoch
        run.warn(
            f"no latent unit is active after {epochs} epoch{'s' * (epochs != 1)} (the variance "
            f"of every posterior mean over the test examples is below {ACTIVE_UNIT_THRESHOLD}): "
            "the decoder ignores z. Either the posterior collapsed onto the prior (try "
            "divergence.anneal, divergence.free_bits, a smaller divergence.beta or a weaker "
            "decoder) or the run is too short to have used z yet"
        )
