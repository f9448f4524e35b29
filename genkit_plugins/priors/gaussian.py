"""A diagonal Gaussian prior with a learned mean and scale."""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Distribution, Independent, Normal

import genkit_core
from genkit_core import Params, Prior

__all__ = ["LearnedGaussian"]


class LearnedGaussian(Prior):
    r""":math:`p(z) = \mathcal N(m, \operatorname{diag} e^{2\rho})` with learned :math:`m, \rho \in
    \mathbb R^L`, starting at :math:`\mathcal N(0, I)`.

    Its KL against the diagonal Gaussian posterior has a closed form (``gaussian_kl``).
    """

    Params = Params

    def __init__(self, params: genkit_core.Params, latent_dim: int):
        super().__init__(params, latent_dim)
        self.loc = nn.Parameter(torch.zeros(latent_dim))
        self.log_scale = nn.Parameter(torch.zeros(latent_dim))

    def distribution(self) -> Distribution:
        normal = Normal(self.loc, self.log_scale.exp(), validate_args=False)
        return Independent(normal, 1, validate_args=False)
