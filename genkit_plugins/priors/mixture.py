"""A mixture-of-Gaussians prior with learned components and weights."""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field
from torch import nn
from torch.distributions import (
    Categorical,
    Distribution,
    Independent,
    MixtureSameFamily,
    Normal,
)

from genkit_core import Params, Prior

__all__ = ["MixtureOfGaussians", "MixtureParams"]


class MixtureParams(Params):
    """How many components, and how far apart their means start."""

    components: Annotated[int, Field(gt=0, le=10_000)] = Field(
        10, description="K, the number of Gaussian components."
    )
    spread: Annotated[float, Field(ge=0, le=1e3)] = Field(
        1.0,
        description="The standard deviation of the components' random initial means, so that "
        "they start apart.",
    )


class MixtureOfGaussians(Prior):
    r""":math:`p(z) = \sum_{k=1}^K \pi_k\, \mathcal N(z;\, m_k, \operatorname{diag} e^{2\rho_k})`
    with :math:`\pi = \operatorname{softmax}(\alpha)`; :math:`m, \rho, \alpha` are learned.

    The means start at random (``spread``) so the components differ; scales start at 1 and
    weights uniform. The KL to a Gaussian posterior has no closed form: use ``mc_kl``.
    """

    Params = MixtureParams

    def __init__(self, params: MixtureParams, latent_dim: int):
        super().__init__(params, latent_dim)
        k = params.components
        self.loc = nn.Parameter(torch.randn(k, latent_dim) * params.spread)
        self.log_scale = nn.Parameter(torch.zeros(k, latent_dim))
        self.logits = nn.Parameter(torch.zeros(k))

    def distribution(self) -> Distribution:
        components = Independent(
            Normal(self.loc, self.log_scale.exp(), validate_args=False), 1, validate_args=False
        )
        weights = Categorical(logits=self.logits, validate_args=False)
        return MixtureSameFamily(weights, components, validate_args=False)
