"""Divergence: the regulariser between the posterior q(z|x) and the prior p(z)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from pydantic import BaseModel
from torch import Tensor, nn
from torch.distributions import Distribution

from ..errors import SpecError
from .params import DivergenceParams

__all__ = ["Divergence"]


class Divergence(nn.Module, ABC):
    r"""A per-example divergence :math:`D(q(z|x) \,\|\, p(z))` and its weighted training penalty.

    ``forward`` returns the divergence itself (reported, and used in the ELBO when it is a KL).
    ``penalty`` applies the modifiers of :class:`DivergenceParams` (beta, annealing, free bits),
    which every divergence accepts. Parameter models must subclass ``DivergenceParams``.

    Args:
        params: the validated spec section.
    """

    kind: ClassVar[str] = "divergence"
    Params: ClassVar[type[BaseModel]] = DivergenceParams
    is_kl: ClassVar[bool] = True
    """Whether ``forward`` estimates KL(q || p), so that reconstruction + divergence is an ELBO."""

    def __init__(self, params: DivergenceParams):
        super().__init__()
        self.params = params

    @abstractmethod
    def forward(self, q: Distribution, p: Distribution, z: Tensor) -> Tensor:
        """Divergence per example ``(B,)``; q: batch ``(B,)``, event ``(L,)``; z: ``(B, L)``."""

    def per_dimension(self, q: Distribution, p: Distribution, z: Tensor) -> Tensor | None:
        """Divergence per example and latent dimension ``(B, L)``, or None if it does not factorise.

        Needed only for free bits; the default says it does not factorise.
        """
        return None

    def weight(self, step: Tensor | None) -> Tensor | float:
        r""":math:`\beta\, w(t)`: the penalty's weight at step ``step`` (None: fully annealed)."""
        anneal = self.params.anneal
        if anneal is None or step is None:
            return self.params.beta
        phase = step if anneal.kind == "linear" else torch.remainder(step, anneal.steps)
        span = anneal.steps if anneal.kind == "linear" else anneal.ratio * anneal.steps
        return self.params.beta * torch.clamp(phase / span, max=1.0)

    def penalty(
        self, q: Distribution, p: Distribution, z: Tensor, step: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """The divergence per example ``(B,)`` and the scalar penalty the objective adds."""
        if self.params.free_bits > 0:
            per_dim = self.per_dimension(q, p, z)
            if per_dim is None:
                raise SpecError(
                    f"free_bits needs a divergence that splits over latent dimensions, and "
                    f"{type(self).__name__} does not for this posterior and prior; remove "
                    "free_bits or use a prior that factorises (standard_normal, gaussian)",
                    field="divergence.free_bits",
                )
            value = per_dim.sum(-1)
            floored = per_dim.mean(0).clamp(min=self.params.free_bits).sum()
            return value, self.weight(step) * floored
        value = self.forward(q, p, z)
        return value, self.weight(step) * value.mean()
