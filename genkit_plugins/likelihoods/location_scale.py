"""The shared machinery of location-scale likelihoods (gaussian, laplace): where the scale lives."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, ClassVar, Literal

import torch
from pydantic import Field
from torch import Tensor, nn
from torch.distributions import Distribution

from genkit_core import Likelihood, Params

__all__ = ["LocationScale", "LocationScaleParams"]


class LocationScaleParams(Params):
    """Where the scale comes from, its floor, and how decoder outputs become the location."""

    variance: Literal["per_pixel", "shared", "decoder"] = Field(
        "per_pixel",
        description="Where the log-scale comes from: per_pixel learns one per data element, "
        "shared one for all, decoder makes the decoder emit a second channel of them "
        "(heteroscedastic, P = 2).",
    )
    min_scale: Annotated[float, Field(gt=0, le=1e3)] = Field(
        1e-3,
        description="A fixed floor added to every scale, so the density cannot collapse onto a "
        "constant pixel.",
    )
    activation: Literal["sigmoid", "identity"] = Field(
        "sigmoid",
        description="Maps the decoder's first channel to the location: sigmoid for data in "
        "[0, 1], identity for real data.",
    )


class LocationScale(Likelihood):
    r"""Independent :math:`D(\mu_i, s_i)` per data element, :math:`s_i = s_{\min} + e^{\rho_i}`.

    The location :math:`\mu` is the decoder's first channel (through ``activation``); the
    log-scale :math:`\rho` is a learned parameter of this module (``per_pixel``, ``shared``) or
    the decoder's second channel (``decoder``). Subclasses name the distribution.
    """

    Params = LocationScaleParams
    params: LocationScaleParams  # the validated section, narrowed from the interface
    distribution_cls: ClassVar[Callable[..., Distribution]]  # (loc, scale, validate_args)

    def __init__(self, params: LocationScaleParams, data_shape: tuple[int, ...]):
        super().__init__(params, data_shape)
        self.num_params = 2 if params.variance == "decoder" else 1
        shape = {"per_pixel": self.data_shape, "shared": (), "decoder": None}[params.variance]
        self.log_scale = None if shape is None else nn.Parameter(torch.zeros(shape))

    def loc(self, params: Tensor) -> Tensor:
        """The location ``(B, *data_shape)``."""
        out = self.channels(params)[0]
        return torch.sigmoid(out) if self.params.activation == "sigmoid" else out

    def scale(self, params: Tensor) -> Tensor:
        """The scale, ``(B, *data_shape)`` or broadcastable to it, floored at ``min_scale``."""
        log_scale = self.channels(params)[1] if self.log_scale is None else self.log_scale
        return self.params.min_scale + log_scale.exp()

    def distribution(self, params: Tensor) -> Distribution:
        """The elementwise distribution of the data given the decoder's output."""
        loc = self.loc(params)
        scale = self.scale(params).expand_as(loc)
        return self.distribution_cls(loc, scale, validate_args=False)

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        return self.distribution(params).log_prob(x).flatten(1).sum(1)

    def mean(self, params: Tensor) -> Tensor:
        return self.loc(params)

    def sample(self, params: Tensor) -> Tensor:
        return self.distribution(params).sample()
