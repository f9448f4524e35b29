r"""The shared part of the ex-post samplers: a network fitted to standardised flat codes.

``code_maf``, ``code_vae`` and ``code_diffusion`` are priors ``fitted_after_training``: the codes
``z`` ``(N, L)`` of the training split are standardised, :math:`u = (z - m) / s` (each
dimension's mean and standard deviation, kept in buffers), and a network is fitted to ``u``
through the library's one loop (:func:`~genkit_core.training.fit_density.fit_density`). A draw
is :math:`z = m + s \odot u` with ``u`` from the network; a density of ``u`` becomes one of
``z`` by the change of variables :math:`\log p(z) = \log p_u(u) - \sum_l \log s_l`.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import TYPE_CHECKING, Annotated, Any

import torch
from pydantic import Field
from torch import Tensor, nn
from torch.distributions import Distribution
from torch.types import _size  # the sample shape torch's Distribution methods take

from genkit_core import Params, Prior, SpecError
from genkit_core.interfaces import spec_type

if TYPE_CHECKING:
    from genkit_core import LatentVariableModel

__all__ = ["CodeDensity", "CodeDensityParams"]

_MIN_SCALE = 1e-6
"""The smallest standard deviation a dimension is divided by (a constant code dimension)."""


class CodeDensityParams(Params):
    """How the network is fitted to the training codes (each sampler adds its own sizes)."""

    epochs: Annotated[int, Field(gt=0, le=100_000)] = Field(
        20, description="Passes over the training codes when the prior is fitted."
    )
    batch_size: Annotated[int, Field(gt=0, le=1 << 20)] = Field(
        256, description="Codes per step of the fit."
    )
    lr: Annotated[float, Field(gt=0, le=1)] = Field(
        1e-3, description="Adam's learning rate for the fit."
    )
    seed: Annotated[int, Field(ge=0, lt=2**63)] = Field(
        0,
        description="Seeds the initial weights, the order of the codes and the fit's draws.",
    )


class _CodeDistribution(Distribution):
    """The prior as a ``torch.distributions`` object with event shape ``(L,)``."""

    arg_constraints: dict[str, Any] = {}  # noqa: RUF012 - torch's class attribute
    has_rsample = False

    def __init__(self, prior: CodeDensity):
        self.prior = prior
        super().__init__(torch.Size(), torch.Size([prior.latent_dim]), validate_args=False)

    def sample(self, sample_shape: _size = torch.Size()) -> Tensor:  # noqa: B008
        n = math.prod(sample_shape)
        return self.prior.sample(n).view(*sample_shape, *self.event_shape)

    def log_prob(self, value: Tensor) -> Tensor:
        return self.prior.log_prob(value)


class CodeDensity(Prior):
    """A network fitted to the standardised flat codes; subclasses give its loss and draws.

    Subclasses set :attr:`net` (the module :meth:`fit` trains, frozen otherwise) and define
    :meth:`loss` (what is minimised per code), :meth:`sample_standard` and
    :meth:`log_prob_standard`, all in the standardised space.
    """

    params: CodeDensityParams  # the validated section, narrowed from the interface
    shift: Tensor  # buffers (nn.Module types attributes Tensor | Module)
    scale: Tensor
    net: nn.Module
    fitted_after_training = True

    def __init__(self, params: CodeDensityParams, latent_dim: int):
        super().__init__(params, latent_dim)
        self.register_buffer("shift", torch.zeros(latent_dim))
        self.register_buffer("scale", torch.ones(latent_dim))

    def bind(self, model: LatentVariableModel) -> None:
        """Refuse a posterior whose codes are not flat ``(latent_dim,)`` vectors."""
        shape = tuple(model.posterior.latent_shape)
        if shape != (self.latent_dim,):
            raise SpecError(
                f"the '{spec_type(self)}' prior models flat codes of latent_dim "
                f"{self.latent_dim}, and the '{spec_type(model.posterior)}' posterior's codes "
                f"have the shape {shape}; use a posterior with flat codes (gaussian, delta), "
                "or code_pixelcnn for a codebook's grid",
                field="prior.type",
            )

    def freeze(self) -> None:
        """Call at the end of a subclass's constructor: the model's optimiser never trains it."""
        self.net.requires_grad_(False)

    def fit(self, codes: Tensor) -> None:
        """Standardise the ``(N, L)`` codes and fit the network to them by :meth:`loss`."""
        from genkit_core.training.fit_density import fit_density  # the trainer's package: late

        flat = codes.flatten(1).to(self.shift)
        self.shift.copy_(flat.mean(0))
        self.scale.copy_(flat.std(0, correction=0).clamp_min(_MIN_SCALE))
        u = self.standardise(flat)
        self.fitted(u)
        p = self.params
        fit_density(
            self, u, self.loss, epochs=p.epochs, batch_size=p.batch_size, lr=p.lr, seed=p.seed,
        )  # fmt: skip

    def fitted(self, u: Tensor) -> None:
        """Keep what the fit needs of the standardised codes ``(N, L)`` before it starts."""

    def standardise(self, z: Tensor) -> Tensor:
        """:math:`u = (z - m) / s`, ``(..., L)``."""
        return (z - self.shift) / self.scale

    def distribution(self) -> Distribution:
        return _CodeDistribution(self)

    @torch.no_grad()
    def sample(self, n: int) -> Tensor:
        """Draw ``(n, L)`` codes: the network's draws, unstandardised."""
        return self.sample_standard(n) * self.scale + self.shift

    def log_prob(self, z: Tensor) -> Tensor:
        r"""``(*S, L) -> (*S)``: :math:`\log p_u(u) - \sum_l \log s_l` in nats."""
        lead = z.shape[:-1]
        u = self.standardise(z.reshape(-1, self.latent_dim))
        return (self.log_prob_standard(u) - self.scale.log().sum()).view(lead)

    @abstractmethod
    def loss(self, u: Tensor) -> Tensor:
        """``(B, L) -> (B,)``: what the fit minimises for each standardised code."""

    @abstractmethod
    def sample_standard(self, n: int) -> Tensor:
        """``(n, L)`` draws of the standardised codes, from torch's global generator."""

    @abstractmethod
    def log_prob_standard(self, u: Tensor) -> Tensor:
        """``(B, L) -> (B,)``: the log-density (or the bound each sampler documents) of ``u``."""
