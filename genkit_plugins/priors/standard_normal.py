"""The standard normal prior N(0, I)."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Distribution, Independent, Normal

import genkit_core
from genkit_core import Params, Prior

__all__ = ["StandardNormal"]


class StandardNormal(Prior):
    r""":math:`p(z) = \mathcal N(0, I_L)`, with no parameters."""

    Params = Params
    loc: Tensor  # a buffer (nn.Module types attributes Tensor | Module)
    scale: Tensor

    def __init__(self, params: genkit_core.Params, latent_dim: int):
        super().__init__(params, latent_dim)
        self.register_buffer("loc", torch.zeros(latent_dim), persistent=False)
        self.register_buffer("scale", torch.ones(latent_dim), persistent=False)

    def distribution(self) -> Distribution:
        return Independent(
            Normal(self.loc, self.scale, validate_args=False), 1, validate_args=False
        )
