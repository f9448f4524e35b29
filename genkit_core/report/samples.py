r"""Samples: images decoded from latents drawn from the prior, or for an AE from a fitted Gaussian.

A VAE draws :math:`z \sim p(z)`; a cvae with classes draws one row per class. An AE has no
prior, so its codes are drawn from the Gaussian fitted to its train codes,
:math:`\mathcal N(\hat\mu, \hat\Sigma)` with the sample mean and covariance (plus
:math:`10^{-5} I`): this shows what the decoder makes of codes of the right scale and
correlation, not samples of a generative model. Each image is the likelihood's mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.distributions import MultivariateNormal

from .view import RunView

__all__ = ["Samples", "draw_samples", "fit_code_gaussian"]


@dataclass(frozen=True)
class Samples:
    """Decoded samples ``(N, *shape)``, laid out ``nrow`` per row, with row labels and how."""

    x: Tensor
    nrow: int
    row_labels: list[str] | None
    how: str


def fit_code_gaussian(codes: Tensor) -> MultivariateNormal:
    """The Gaussian of the sample mean and covariance of ``(N, L)`` codes."""
    codes = codes.double()
    centred = codes - codes.mean(0)
    cov = centred.T @ centred / max(len(codes) - 1, 1)
    cov = cov + 1e-5 * torch.eye(codes.shape[1], dtype=cov.dtype, device=cov.device)
    return MultivariateNormal(codes.mean(0), covariance_matrix=cov)


@torch.no_grad()
def draw_samples(view: RunView, n: int = 64, seed: int = 0, per_class: int = 8) -> Samples:
    """Samples of the run's model; repeatable for a given seed."""
    model, device = view.model, view.test_x.device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        if not model.can_sample:
            z = fit_code_gaussian(view.codes(view.train_x, view.train_y)).sample((n,))
            how = "codes drawn from a Gaussian fitted to the train codes (an AE has no prior)"
            return Samples(view.decode_mean(z.to(view.test_x.dtype)), 8, None, how)
        classes = view.info.num_classes
        labels: Tensor | None
        if model.conditioner is not None and classes is not None:
            labels = torch.arange(classes, device=device).repeat_interleave(per_class)
            x = model.sample(len(labels), labels)
            return Samples(
                x, per_class, [str(c) for c in range(classes)], "z ~ p(z), one row per class"
            )
        labels = None
        if model.conditioner is not None and view.test_y is not None:
            labels = view.test_y[:1].expand(n, *view.test_y.shape[1:])
        fitted = model.prior is not None and model.prior.fitted_after_training
        how = "z ~ p(z)" + (", a density fitted to the train codes after training" * fitted)
        return Samples(model.sample(n, labels), 8, None, how)
