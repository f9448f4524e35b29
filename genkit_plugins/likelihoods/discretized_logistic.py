"""The discretized logistic likelihood of PixelCNN++ (Salimans et al., 2017) for 8-bit data."""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor

from genkit_core import Likelihood, Params

from .eight_bit import BINS, bin_index, unit_interval_error

__all__ = ["DiscretizedLogistic", "DiscretizedLogisticParams"]

_HALF_BIN = 0.5 / (BINS - 1)


class DiscretizedLogisticParams(Params):
    """The floor of the logistic scale."""

    min_scale: Annotated[float, Field(gt=0, le=1e3)] = Field(
        1e-3,
        description="A floor added to the logistic scale, in units of [0, 1] intensity.",
    )


class DiscretizedLogistic(Likelihood):
    r"""A logistic :math:`(\mu_i, s_i)` per data element, integrated over its 8-bit bin.

    With data :math:`x_i \in \{0, \tfrac1{255}, \dots, 1\}`, bin half-width
    :math:`h = \tfrac1{2 \cdot 255}` and :math:`\sigma` the logistic sigmoid,

    :math:`P(x_i) = \sigma\big(\tfrac{x_i + h - \mu_i}{s_i}\big)
    - \sigma\big(\tfrac{x_i - h - \mu_i}{s_i}\big)`,

    except that the edge bins reach to :math:`\pm\infty`: :math:`P(0) = \sigma(\tfrac{h -
    \mu}{s})` and :math:`P(1) = 1 - \sigma(\tfrac{1 - h - \mu}{s})`, so the 256 probabilities
    sum to one. The decoder emits :math:`\mu` and :math:`\rho` with
    :math:`s = s_{\min} + e^{\rho}`. The difference of sigmoids is taken in log space,
    :math:`\log(\sigma(a) - \sigma(b)) = a - \operatorname{sp}(a) - \operatorname{sp}(b) +
    \log(1 - e^{b-a})` (sp: softplus), which needs no fallback for tiny probabilities.
    """

    Params = DiscretizedLogisticParams
    params: DiscretizedLogisticParams  # the validated section, narrowed from the interface

    def __init__(self, params: DiscretizedLogisticParams, data_shape: tuple[int, ...]):
        super().__init__(params, data_shape)
        self.num_params = 2

    def _loc_scale(self, params: Tensor) -> tuple[Tensor, Tensor]:
        loc, log_scale = self.channels(params)
        return loc, self.params.min_scale + log_scale.exp()

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        loc, scale = self._loc_scale(params)
        value = bin_index(x).to(loc.dtype) / (BINS - 1)
        upper = (value + _HALF_BIN - loc) / scale
        lower = (value - _HALF_BIN - loc) / scale
        middle = (
            upper - F.softplus(upper) - F.softplus(lower) + torch.log(-torch.expm1(lower - upper))
        )
        first = F.logsigmoid(upper)
        last = -F.softplus(lower)
        log_p = torch.where(value <= 0, first, torch.where(value >= 1, last, middle))
        return log_p.flatten(1).sum(1)

    def mean(self, params: Tensor) -> Tensor:
        """The logistic's location, clamped to [0, 1] (the discretised mean differs near edges)."""
        return self.channels(params)[0].clamp(0, 1)

    def sample(self, params: Tensor) -> Tensor:
        loc, scale = self._loc_scale(params)
        u = torch.rand_like(loc).clamp(1e-6, 1 - 1e-6)
        draw = loc + scale * (torch.log(u) - torch.log1p(-u))
        return bin_index(draw.clamp(0, 1)).to(loc.dtype) / (BINS - 1)

    def support_error(self, x: Tensor) -> str | None:
        return unit_interval_error(x, "discretized_logistic")
