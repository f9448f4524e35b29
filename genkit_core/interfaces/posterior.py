r"""Posterior: the variational family q(z|x), from encoder features to a distribution over z.

The posterior owns everything between the encoder's features and a latent sample: its head (a
linear layer to a Gaussian's mean and log-variance, a flow, a codebook), the shape of z, and the
shape of the noise that draws z. :meth:`Posterior.sample` returns z together with
:math:`\log q(z|x)` at that z, so a Monte-Carlo KL or an importance weight never needs to invert
a flow.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar, NamedTuple

import torch
from pydantic import BaseModel
from torch import Tensor, nn
from torch.distributions import Distribution, constraints
from torch.types import _size  # the sample shape torch's Distribution methods take

from .params import Params

__all__ = ["Draw", "PointMass", "Posterior"]


class Draw(NamedTuple):
    r"""One reparameterised draw from a posterior.

    Attributes:
        z: ``(*S, B, *latent_shape)`` latents, for noise of leading shape ``S`` (often empty).
        log_q: ``(*S, B)`` :math:`\log q(z|x)` at ``z`` in nats (zeros for a point mass).
        terms: extra per-example loss terms ``(*S, B)`` the posterior adds to the objective
            as they are (a codebook's commitment loss, say), by the names in
            :attr:`Posterior.terms`.
    """

    z: Tensor
    log_q: Tensor
    terms: dict[str, Tensor] = {}  # noqa: RUF012 - a NamedTuple default, never mutated


class Posterior(nn.Module, ABC):
    r"""The variational family :math:`q(z|x)`.

    ``forward(features)`` returns q as a ``torch.distributions`` object with batch shape
    ``(B,)`` and event shape :attr:`latent_shape` (so closed-form KLs registered with torch
    apply to it); :meth:`sample` draws from it with given noise; :meth:`code` is the point code
    that ``encode``, active units and the report use (the mean, or the deterministic code).

    Args:
        params: the validated spec section.
        in_shape: shape of the encoder's features for one example, e.g. ``(F,)``.
        latent_dim: L, the spec's ``latent_dim``.

    Subclasses that are not flat ``(L,)`` vectors override :attr:`latent_shape`; hierarchical
    posteriors whose decoder sees part of z override :meth:`decoder_input` and
    :attr:`decoder_shape`.
    """

    kind: ClassVar[str] = "posterior"
    Params: ClassVar[type[BaseModel]] = Params
    stochastic: ClassVar[bool] = True
    """False for a point mass (an autoencoder's code): it has no density, no KL and no bound."""
    terms: ClassVar[tuple[str, ...]] = ()
    """Names of the extra loss terms :meth:`sample` returns in ``Draw.terms``."""

    def __init__(self, params: BaseModel, in_shape: tuple[int, ...], latent_dim: int):
        super().__init__()
        self.params = params
        self.in_shape = tuple(in_shape)
        self.latent_dim = int(latent_dim)

    @property
    def in_features(self) -> int:
        """The encoder's features per example, flattened: ``prod(in_shape)``."""
        return math.prod(self.in_shape)

    @property
    def latent_shape(self) -> tuple[int, ...]:
        """Shape of one latent z: ``(L,)`` by default."""
        return (self.latent_dim,)

    @property
    def noise_shape(self) -> tuple[int, ...]:
        """Shape of the standard normal noise that draws one z: ``(L,)``; ``(0,)`` for none."""
        return self.latent_shape if self.stochastic else (0,)

    @property
    def decoder_shape(self) -> tuple[int, ...]:
        """Shape of what the decoder receives for one z (see :meth:`decoder_input`)."""
        return self.latent_shape

    def decoder_input(self, z: Tensor) -> Tensor:
        """The part of z the decoder sees (all of it, by default)."""
        return z

    @abstractmethod
    def forward(self, features: Tensor) -> Distribution:
        """q(z|x) for features ``(B, *in_shape)``."""

    if TYPE_CHECKING:  # nn.Module's __call__ is untyped; calling the module runs forward

        def __call__(self, features: Tensor) -> Distribution: ...

    @abstractmethod
    def sample(self, q: Distribution, noise: Tensor) -> Draw:
        """A reparameterised draw driven by ``noise`` ``(*S, B, *noise_shape)``, standard normal.

        Gradients reach q's parameters through z (and through ``log_q``).
        """

    @abstractmethod
    def code(self, q: Distribution) -> Tensor:
        """The point code ``(B, *latent_shape)``: q's mean, or the deterministic code."""


class PointMass(Distribution):
    r"""The point mass :math:`\delta_{c}`: an autoencoder's deterministic code ``c`` as a
    distribution, so a deterministic posterior fits the same interface as a stochastic one.

    It has no density with respect to Lebesgue measure; ``log_prob`` is 0 at ``c`` and
    :math:`-\infty` elsewhere.
    """

    arg_constraints: ClassVar[dict[str, constraints.Constraint]] = {}
    has_rsample = True

    def __init__(self, value: Tensor, event_dims: int = 1):
        self.value = value
        cut = value.dim() - event_dims
        super().__init__(value.shape[:cut], value.shape[cut:], validate_args=False)

    @property
    def mean(self) -> Tensor:
        return self.value

    @property
    def variance(self) -> Tensor:
        return torch.zeros_like(self.value)

    def rsample(self, sample_shape: _size = torch.Size()) -> Tensor:  # noqa: B008
        return self.value.expand(*sample_shape, *self.value.shape)

    def log_prob(self, value: Tensor) -> Tensor:
        equal = (value == self.value).flatten(-len(self.event_shape)).all(-1)
        return torch.where(equal, 0.0, -math.inf).to(self.value.dtype)
