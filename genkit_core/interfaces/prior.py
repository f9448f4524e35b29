"""Prior: the distribution p(z) over the latent space."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

import torch
from pydantic import BaseModel
from torch import Tensor, nn
from torch.distributions import Distribution

from .params import Params

if TYPE_CHECKING:
    from ..model import LatentVariableModel

__all__ = ["Prior"]


class Prior(nn.Module, ABC):
    """A distribution over latents ``(L,)``, as a ``torch.distributions`` object.

    Priors may have learnable parameters (they are modules); ``distribution()`` is rebuilt at
    every call so those parameters receive gradients. A prior with ``fitted_after_training``
    takes no part in the loss: the trainer fits it to the training codes when training ends
    (:meth:`fit`), so that a model without a KL term (an autoencoder) can still sample.

    Args:
        params: the validated spec section.
        latent_dim: L, the size of the latent space.
    """

    kind: ClassVar[str] = "prior"
    Params: ClassVar[type[BaseModel]] = Params
    fitted_after_training: ClassVar[bool] = False
    """Whether the trainer fits this prior to the codes after training instead of by gradient."""

    def __init__(self, params: BaseModel, latent_dim: int):
        super().__init__()
        self.params = params
        self.latent_dim = int(latent_dim)

    @abstractmethod
    def distribution(self) -> Distribution:
        """p(z) with ``event_shape == (L,)`` and empty batch shape."""

    def sample(self, n: int) -> Tensor:
        """Draw ``(n, L)`` latents."""
        return self.distribution().sample(torch.Size([n]))

    def log_prob(self, z: Tensor) -> Tensor:
        """``(B, L) -> (B,)`` log-density in nats."""
        return self.distribution().log_prob(z)

    def bind(self, model: LatentVariableModel) -> None:
        """Receive the model this prior belongs to, once, in the model's constructor.

        Priors defined through the model keep what they need: the VampPrior keeps
        ``model.posterior_of`` and makes pseudo-inputs of ``model.data_info.shape``; a
        hierarchical prior reads the layers of ``model.posterior``. Keep bound methods or
        sizes, never the model itself (it would become a submodule of its own prior).
        """

    def check(self, model: LatentVariableModel) -> None:
        """Refuse a model, or data, this prior cannot serve (raise ``SpecError`` naming the
        field), when the model is built and before any step is taken.

        ``model.data_info.train_size`` is the number of training examples when the data is
        loaded (None when it is only described): a prior fitted after training that needs a
        number of codes says so here, instead of failing when training ends.
        """

    def fit(self, codes: Tensor) -> None:
        """Fit the prior to ``(N, *latent_shape)`` training codes (``fitted_after_training``)."""
        raise NotImplementedError(f"{type(self).__name__} is not fitted after training")
