"""Student-t likelihood: a heavy-tailed alternative to the Gaussian for continuous data."""

from __future__ import annotations

import math
from typing import Annotated, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn
from torch.distributions import StudentT as _TorchStudentT

from genkit_core import Likelihood, Params, SpecError

__all__ = ["StudentT", "StudentTParams"]

Positive = Annotated[float, Field(gt=0, le=1e6)]


class StudentTParams(Params):
    """Degrees of freedom, where the scale comes from, and how the location is read.

    Each ``description`` is what ``genkit describe`` and the documentation site show.
    """

    df: Positive = Field(
        4.0, description="The degrees of freedom ν (its starting value when learn_df)."
    )
    learn_df: bool = Field(True, description="Learn ν along with the model.")
    scale: Literal["decoder", "learned"] = Field(
        "decoder",
        description="decoder emits a scale per data element (two parameters per element); "
        "learned keeps one learned scale per data element, shared by every example.",
    )
    init_scale: Positive = Field(0.1, description="The starting value of a learned scale.")
    min_scale: Annotated[float, Field(ge=0, le=1e3)] = Field(
        1e-3, description="A floor added to every scale, so densities stay bounded."
    )
    activation: Literal["sigmoid", "identity"] = Field(
        "sigmoid", description="Maps the decoder's first output to the location μ."
    )


def _softplus_inverse(y: float) -> float:
    """The x with softplus(x) = y, for y > 0: ``log(expm1(y))``."""
    return y + math.log(-math.expm1(-y))


class StudentT(Likelihood):
    r"""Independent Student-t elements with location μ, scale σ and degrees of freedom ν.

    .. math::
        \log p(x|\mu,\sigma,\nu) = \sum_i \log\Gamma(\tfrac{\nu+1}{2}) - \log\Gamma(\tfrac{\nu}{2})
            - \tfrac12 \log(\nu\pi) - \log\sigma_i
            - \tfrac{\nu+1}{2} \log\bigl(1 + \tfrac{1}{\nu}(\tfrac{x_i-\mu_i}{\sigma_i})^2\bigr)

    in nats, normalising constants included. ν and a learned σ are kept positive through a
    softplus; a decoder-emitted σ is ``softplus(params[:, 1]) + min_scale``. As ν grows the
    density tends to the Gaussian; small ν tolerates outlying pixels.

    Example::

        likelihood: {type: student_t, df: 3.0, learn_df: false, scale: learned}
    """

    Params = StudentTParams

    def __init__(self, params: StudentTParams, data_shape: tuple[int, ...]):
        super().__init__(params, data_shape)
        if params.scale == "learned" and params.init_scale <= params.min_scale:
            raise SpecError(
                f"must exceed min_scale ({params.min_scale:g}), got {params.init_scale:g}",
                field="init_scale",
            )
        self.num_params = 2 if params.scale == "decoder" else 1
        raw_df = torch.tensor(_softplus_inverse(params.df))
        if params.learn_df:
            self.raw_df = nn.Parameter(raw_df)
        else:
            self.register_buffer("raw_df", raw_df)
        if params.scale == "learned":
            start = _softplus_inverse(params.init_scale - params.min_scale)
            self.raw_scale = nn.Parameter(torch.full(self.data_shape, start))

    @property
    def df(self) -> Tensor:
        """ν, a scalar tensor (trainable when ``learn_df``)."""
        return F.softplus(self.raw_df)

    def loc(self, params: Tensor) -> Tensor:
        """μ ``(B, *data_shape)`` from the decoder's first output."""
        out = params[:, 0]
        return torch.sigmoid(out) if self.params.activation == "sigmoid" else out

    def scale(self, params: Tensor) -> Tensor:
        """σ ``(B, *data_shape)`` (or ``data_shape`` when learned, broadcasting over B)."""
        raw = params[:, 1] if self.params.scale == "decoder" else self.raw_scale
        return F.softplus(raw) + self.params.min_scale

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        nu, sigma = self.df, self.scale(params)
        t = (x - self.loc(params)) / sigma
        constant = self._log_normaliser(nu).to(x.dtype)
        elementwise = constant - sigma.log() - (nu + 1) / 2 * torch.log1p(t.square() / nu)
        return elementwise.expand_as(x).flatten(1).sum(1)

    @staticmethod
    def _log_normaliser(nu: Tensor) -> Tensor:
        r""":math:`\log\Gamma(\frac{\nu+1}{2}) - \log\Gamma(\frac{\nu}{2}) - \frac12\log(\nu\pi)`.

        In float64: for large ν the two log-gammas nearly cancel, and float32 loses the difference.
        """
        nu = nu.double()
        return torch.lgamma((nu + 1) / 2) - torch.lgamma(nu / 2) - 0.5 * torch.log(nu * math.pi)

    def mean(self, params: Tensor) -> Tensor:
        """The location μ (the mean whenever ν > 1, and the median always)."""
        return self.loc(params)

    def sample(self, params: Tensor) -> Tensor:
        loc = self.loc(params)
        scale = self.scale(params).expand_as(loc)
        return _TorchStudentT(self.df.detach(), loc, scale).sample()
