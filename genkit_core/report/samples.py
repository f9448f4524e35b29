r"""Samples: images decoded from latents drawn from the prior, or for an AE from a fitted density.

A VAE draws :math:`z \sim p(z)`; a cvae with classes draws one row per class
(:func:`~genkit_core.images.sample_grid`, as the pictures of each epoch and ``genkit sample``).
An AE has no prior, so its codes are drawn from the stand-in prior the model kinds' table names
(:data:`~genkit_core.spec.kinds.STAND_IN_PRIOR`, a Gaussian of the codes' sample mean and
covariance), built through the registry and fitted to the train codes as a prior fitted after
training is: this shows what the decoder makes of codes of the right scale and correlation, not
samples of a generative model. Each image is the likelihood's mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..components import build_component
from ..images import sample_grid
from ..interfaces import Prior, spec_type
from ..registry import get_registry
from ..spec.kinds import STAND_IN_PRIOR
from .view import RunView

__all__ = ["Samples", "draw_samples", "fit_stand_in_prior"]


@dataclass(frozen=True)
class Samples:
    """Decoded samples ``(N, *shape)``, laid out ``nrow`` per row, with row labels and how."""

    x: Tensor
    nrow: int
    row_labels: list[str] | None
    how: str


def fit_stand_in_prior(codes: Tensor) -> Prior:
    """The stand-in prior (:data:`~genkit_core.spec.kinds.STAND_IN_PRIOR`) fitted to ``(N, L)``
    flat codes, on their device.
    """
    registry = get_registry()
    section = registry.spec_model("prior", STAND_IN_PRIOR["type"]).model_validate(STAND_IN_PRIOR)
    prior: Prior = build_component("prior", section, registry, latent_dim=codes.shape[1])
    prior.to(codes.device).fit(codes)
    return prior


@torch.no_grad()
def draw_samples(view: RunView, n: int = 64, seed: int = 0, per_class: int = 8) -> Samples:
    """Samples of the run's model; repeatable for a given seed."""
    model, device = view.model, view.test_x.device
    if not model.can_sample:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            prior = fit_stand_in_prior(view.codes(view.train_x, view.train_y))
            z = prior.sample(n).reshape(n, math.prod(model.posterior.latent_shape))
        density = f"a density fitted to the train codes ({spec_type(prior)}; an AE has no prior)"
        how = f"codes drawn from {density}"
        return Samples(view.decode_mean(z.to(view.test_x.dtype)), 8, None, how)
    condition = None if view.test_y is None else view.test_y[:1]
    grid = sample_grid(model, n, per_class, condition=condition, seed=seed)
    classes = view.info.num_classes
    if model.conditioner is not None and classes is not None:
        rows = [str(c) for c in range(classes)]
        return Samples(grid.x, grid.nrow, rows, "z ~ p(z), one row per class")
    fitted = model.prior is not None and model.prior.fitted_after_training
    how = "z ~ p(z)" + (", a density fitted to the train codes after training" * fitted)
    return Samples(grid.x, grid.nrow, None, how)
