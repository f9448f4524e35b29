"""Divergence: the regulariser between the posterior q(z|x) and the prior p(z)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar, NamedTuple

import torch
from pydantic import BaseModel
from torch import Tensor, nn
from torch.distributions import Distribution

from ..errors import SpecError
from .data import DataInfo
from .params import DivergenceParams, spec_type

__all__ = ["Divergence", "Penalty"]


class Penalty(NamedTuple):
    """What a divergence adds to a batch's objective.

    Attributes:
        value: the divergence per example ``(B,)``, unweighted (reported; in the ELBO when a KL).
        loss: the scalar the objective adds: the batch mean with beta, annealing and free bits.
        parts: named per-example parts ``(B,)`` of ``value`` that the trainer logs as terms, by
            the names in :attr:`Divergence.parts` (empty for most divergences).
    """

    value: Tensor
    loss: Tensor
    parts: dict[str, Tensor]


class Divergence(nn.Module, ABC):
    r"""A per-example divergence :math:`D(q(z|x) \,\|\, p(z))` and its weighted training penalty.

    ``forward(q, p, z, log_q)`` returns the divergence itself (reported, and used in the ELBO
    when it is a KL): q is the posterior (batch ``(B,)``), p the prior, z ``(B, *latent)`` the
    reparameterised sample the model drew and ``log_q`` ``(B,)`` the posterior's log-density at
    it, so Monte-Carlo estimates never need to invert q. ``penalty`` applies the modifiers of
    :class:`DivergenceParams` (beta, annealing, free bits), which every divergence accepts.
    Parameter models must subclass ``DivergenceParams``.

    Args:
        params: the validated spec section.
        data: what the data source provides (``data.train_size`` is N, the number of training
            examples, for estimators that weigh a minibatch against the data set).
    """

    kind: ClassVar[str] = "divergence"
    Params: ClassVar[type[BaseModel]] = DivergenceParams
    is_kl: ClassVar[bool] = True
    """Whether ``forward`` estimates KL(q || p), so that reconstruction + divergence is an ELBO."""
    parts: ClassVar[tuple[str, ...]] = ()
    """Names of the parts :meth:`penalty` reports beside the value (logged as terms)."""

    def __init__(self, params: DivergenceParams, data: DataInfo | None = None):
        super().__init__()
        self.params = params
        self.data = data

    @abstractmethod
    def forward(self, q: Distribution, p: Distribution, z: Tensor, log_q: Tensor) -> Tensor:
        """Divergence per example ``(B,)``; q: batch ``(B,)``, z: ``(B, *latent)``."""

    if TYPE_CHECKING:  # nn.Module's __call__ is untyped; calling the module runs forward

        def __call__(
            self, q: Distribution, p: Distribution, z: Tensor, log_q: Tensor
        ) -> Tensor: ...

    def per_dimension(
        self, q: Distribution, p: Distribution, z: Tensor, log_q: Tensor
    ) -> Tensor | None:
        """Divergence per example and latent dimension ``(B, L)``, or None if it does not factorise.

        Needed only for free bits; the default says it does not factorise.
        """
        return None

    def annealing(self, step: Tensor | None) -> Tensor | float:
        r""":math:`w(t)`: the annealing schedule's factor at ``step`` (None: fully annealed)."""
        anneal = self.params.anneal
        if anneal is None or step is None:
            return 1.0
        phase = step if anneal.kind == "linear" else torch.remainder(step, anneal.steps)
        span = anneal.steps if anneal.kind == "linear" else anneal.ratio * anneal.steps
        return torch.clamp(phase / span, max=1.0)

    def weight(self, step: Tensor | None) -> Tensor | float:
        r""":math:`\beta\, w(t)`: the penalty's weight at step ``step`` (None: fully annealed)."""
        return self.params.beta * self.annealing(step)

    def penalty(
        self,
        q: Distribution,
        p: Distribution,
        z: Tensor,
        log_q: Tensor,
        step: Tensor | None = None,
    ) -> Penalty:
        """The divergence per example, the scalar penalty the objective adds, and any parts."""
        if self.params.free_bits > 0:
            per_dim = self.per_dimension(q, p, z, log_q)
            if per_dim is None:
                raise SpecError(
                    f"free_bits needs a divergence that splits over latent dimensions, and "
                    f"{spec_type(self)} does not for this posterior and prior; remove "
                    "free_bits or use a prior that factorises (standard_normal, gaussian)",
                    field="divergence.free_bits",
                )
            value = per_dim.sum(-1)
            floored = per_dim.mean(0).clamp(min=self.params.free_bits).sum()
            return Penalty(value, self.weighted(floored, step), {})
        value = self.forward(q, p, z, log_q)
        return Penalty(value, self.weighted(value.mean(), step), {})

    def weighted(self, loss: Tensor, step: Tensor | None) -> Tensor:
        """``loss`` times :meth:`weight` at ``step``; the loss itself where the weight is 1 (a
        plain KL, or once annealed), which is the same number without a product in the graph.
        """
        weight = self.weight(step)
        if isinstance(weight, float) and weight == 1.0:
            return loss
        return weight * loss
