"""Sum of squared errors: the classic VAE reconstruction term."""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from pydantic import Field
from torch import Tensor

from genkit_core import Likelihood, Params

__all__ = ["MSE", "MSEParams"]


class MSEParams(Params):
    """The weight of the squared error and the map from decoder outputs to the mean."""

    weight: Annotated[float, Field(gt=0, le=1e6)] = Field(
        1.0,
        description="w, the factor of the summed squared error (0.5 is a unit-variance Gaussian "
        "without its constant).",
    )
    activation: Literal["sigmoid", "identity"] = Field(
        "sigmoid",
        description="Maps decoder outputs to the mean: sigmoid for data in [0, 1], identity for "
        "real data.",
    )


class MSE(Likelihood):
    r"""Squared error: :math:`\log p(x|\hat x) = -w \sum_i (x_i - \hat x_i)^2`, summed per example.

    This is ``F.mse_loss(recon, x, reduction="sum")`` per example for w = 1. With w = 1/2 it is
    the negative log-density of :math:`\mathcal N(\hat x, I)` *without its normalising constant*
    :math:`\tfrac D2 \log 2\pi` (Pythae's convention); in general it is a Gaussian of variance
    :math:`1/(2w)` without :math:`\tfrac D2 \log(\pi / w)`. Because the constant is dropped
    (``normalized = False``), its numbers are not log-densities: compare them only with other
    ``mse`` runs of the same weight, or use ``gaussian`` for a normalised density.
    """

    Params = MSEParams
    params: MSEParams  # the validated section, narrowed from the interface
    normalized = False

    def mean(self, params: Tensor) -> Tensor:
        out = self.channels(params)[0]
        return torch.sigmoid(out) if self.params.activation == "sigmoid" else out

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        return -self.params.weight * (x - self.mean(params)).square().flatten(1).sum(1)

    def sample(self, params: Tensor) -> Tensor:
        mean = self.mean(params)
        return mean + torch.randn_like(mean) * float((0.5 / self.params.weight) ** 0.5)
