"""The diagonal Gaussian posterior of the standard VAE."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal

import genkit_core
from genkit_core import Draw, Params, Posterior

__all__ = ["GaussianPosterior", "gaussian_draw"]

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def gaussian_draw(q: Independent[Normal], noise: Tensor) -> tuple[Tensor, Tensor]:
    r"""``z = mu + sigma * eps`` and :math:`\log q(z|x)` at it, for ``q = Independent(Normal)``.

    The log-density is written in the noise, :math:`\sum_j -\tfrac12 \varepsilon_j^2 - \log
    \sigma_j - \tfrac12 \log 2\pi`, which is exact and needs no division by sigma.
    """
    base = q.base_dist
    z = base.loc + base.scale * noise
    log_q = (-0.5 * noise.square() - base.scale.log() - _HALF_LOG_2PI).sum(-1)
    return z, log_q


class GaussianPosterior(Posterior):
    r""":math:`q(z|x) = \mathcal N(\mu(h), \operatorname{diag}\sigma^2(h))`: one linear layer
    maps the encoder's features h to the mean and log-variance (Kingma and Welling, 2014).

    A draw is :math:`z = \mu + \sigma \odot \varepsilon`, :math:`\varepsilon \sim \mathcal
    N(0, I)` (reparameterised, so gradients reach :math:`\mu` and :math:`\sigma`); the code is
    :math:`\mu`. The default posterior of ``vae`` and ``cvae``.
    """

    Params = Params

    def __init__(self, params: genkit_core.Params, in_shape: tuple[int, ...], latent_dim: int):
        super().__init__(params, in_shape, latent_dim)
        self.head = nn.Linear(self.in_features, 2 * latent_dim)

    def forward(self, features: Tensor) -> Distribution:
        mu, log_var = self.head(features.flatten(1)).chunk(2, dim=-1)
        scale = torch.exp(0.5 * log_var)
        return Independent(Normal(mu, scale, validate_args=False), 1, validate_args=False)

    def sample(self, q: Distribution, noise: Tensor) -> Draw:
        z, log_q = gaussian_draw(q, noise)  # type: ignore[arg-type]
        return Draw(z, log_q)

    def code(self, q: Distribution) -> Tensor:
        return q.mean
