r"""Objective: the training loss, as an object applied to the model (like Pyro's ELBO classes).

An objective takes a batch and the model's components and returns one scalar loss per optimiser
group and the per-example terms the trainer logs. ``elbo`` (the negative evidence lower bound,
the divergence as its KL estimator) is the default; ``iwae`` trains on Burda et al.'s
importance-weighted bound; adversarial objectives add a group of their own (a discriminator),
whose loss is back-propagated into that group's parameters only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Annotated, ClassVar, NamedTuple

from pydantic import BaseModel, Field
from torch import Tensor, nn

from .params import Params

if TYPE_CHECKING:
    from ..model import LatentVariableModel

__all__ = ["Objective", "ObjectiveOutput", "ObjectiveParams"]


class ObjectiveOutput(NamedTuple):
    """What an objective returns for a batch.

    Attributes:
        losses: a scalar loss per optimiser group, by the names in :attr:`Objective.groups`
            (``model`` first); each is back-propagated into its group's parameters only.
        terms: per-example ``(B,)`` terms in nats, by the names of :meth:`Objective.term_names`.
    """

    losses: dict[str, Tensor]
    terms: dict[str, Tensor]

    @property
    def loss(self) -> Tensor:
        """The ``model`` group's loss: what ``train_loss`` and ``test_loss`` report."""
        return self.losses["model"]


class ObjectiveParams(Params):
    """Options every objective takes."""

    samples: Annotated[
        int,
        Field(
            gt=0,
            le=100_000,
            description="K: posterior samples per example (the noise the trainer draws for it)",
        ),
    ] = 1


class Objective(nn.Module, ABC):
    """A training loss over the model's components.

    ``forward(model, x, y, noise, step)`` gets ``noise`` of shape ``(B, K, *noise_shape)``
    (K = ``params.samples``; ``noise_shape`` is the posterior's), standard normal, drawn by the
    trainer from its seeded generator so runs repeat exactly.

    An objective is a module of the model, so it may own parameters (a discriminator); it then
    puts them in a group of their own with :meth:`parameter_groups`, and the spec may give each
    group its own optimiser (``train.optimizers``).

    Args:
        params: the validated spec section (a subclass of :class:`ObjectiveParams`).
        latent_dim: L.
    """

    kind: ClassVar[str] = "objective"
    Params: ClassVar[type[BaseModel]] = ObjectiveParams
    groups: ClassVar[tuple[str, ...]] = ("model",)
    loss_is_elbo: ClassVar[bool] = False
    """Whether ``loss`` is the negative ELBO itself (with one draw of z), so that ``genkit
    train`` can say how its test loss relates to ``genkit eval``'s bound."""
    """The optimiser groups, ``model`` first; each has its own optimiser and loss."""

    def __init__(self, params: ObjectiveParams, latent_dim: int):
        super().__init__()
        self.params = params
        self.latent_dim = int(latent_dim)

    @property
    def samples(self) -> int:
        """K, the posterior samples per example."""
        return int(self.params.samples)

    def check(self, model: LatentVariableModel) -> None:
        """Refuse a model this objective cannot train (raise ``SpecError`` naming the field)."""

    @abstractmethod
    def term_names(self, model: LatentVariableModel) -> tuple[str, ...]:
        """The per-example terms :meth:`forward` returns for this model, in order."""

    def parameter_groups(self, model: LatentVariableModel) -> dict[str, list[nn.Parameter]]:
        """The trainable parameters of each group in :attr:`groups`: all in ``model`` by default.

        Every trainable parameter of the model must be in exactly one group.
        """
        return {"model": [p for p in model.parameters() if p.requires_grad]}

    @abstractmethod
    def forward(
        self,
        model: LatentVariableModel,
        x: Tensor,
        y: Tensor | None,
        noise: Tensor,
        step: Tensor | None,
    ) -> ObjectiveOutput:
        """The losses and per-example terms for a batch ``x`` ``(B, *data_shape)``."""

    if TYPE_CHECKING:  # nn.Module's __call__ is untyped; calling the module runs forward

        def __call__(
            self,
            model: LatentVariableModel,
            x: Tensor,
            y: Tensor | None,
            noise: Tensor,
            step: Tensor | None,
        ) -> ObjectiveOutput: ...
