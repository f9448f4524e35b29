"""The point-mass posterior: an autoencoder's deterministic code."""

from __future__ import annotations

from torch import Tensor, nn
from torch.distributions import Distribution

import genkit_core
from genkit_core import Draw, Params, PointMass, Posterior

__all__ = ["DeltaPosterior"]


class DeltaPosterior(Posterior):
    r""":math:`q(z|x) = \delta(z - c(h))`: one linear layer maps the encoder's features h to the
    code c. It has no density, so no KL and no importance-weighted bound; with no divergence the
    objective is the reconstruction term alone (an autoencoder), and with ``mmd`` against a
    prior it is a Wasserstein autoencoder. The default posterior of ``ae``.
    """

    Params = Params
    stochastic = False

    def __init__(self, params: genkit_core.Params, in_shape: tuple[int, ...], latent_dim: int):
        super().__init__(params, in_shape, latent_dim)
        self.head = nn.Linear(self.in_features, latent_dim)

    def forward(self, features: Tensor) -> Distribution:
        return PointMass(self.head(features.flatten(1)))

    def sample(self, q: Distribution, noise: Tensor) -> Draw:
        code = q.mean
        lead = noise.shape[: noise.dim() - len(self.noise_shape)]  # (*S, B)
        z = code.expand(*lead, *code.shape[1:])
        return Draw(z, code.new_zeros(lead))

    def code(self, q: Distribution) -> Tensor:
        return q.mean
