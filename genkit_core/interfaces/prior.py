"""Prior: the distribution p(z) over the latent space."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

import torch
from pydantic import BaseModel
from torch import Tensor, nn
from torch.distributions import Distribution

from .params import Params

__all__ = ["PosteriorFn", "Prior"]

PosteriorFn = Callable[[Tensor], Distribution]
"""The model's encoder as a function: data ``(K, *data_shape)`` to q(z|x) with batch shape (K,)."""


class Prior(nn.Module, ABC):
    """A distribution over latents ``(L,)``, as a ``torch.distributions`` object.

    Priors may have learnable parameters (they are modules); ``distribution()`` is rebuilt at
    every call so those parameters receive gradients.

    Args:
        params: the validated spec section.
        latent_dim: L, the size of the latent space.
    """

    kind: ClassVar[str] = "prior"
    Params: ClassVar[type[BaseModel]] = Params

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

    def bind(self, posterior: PosteriorFn | None, data_shape: tuple[int, ...]) -> None:
        """Receive the model's encoder and the data's shape; priors defined through the encoder
        (VampPrior: pseudo-inputs of the data's shape) keep them and create their parameters.

        ``posterior`` is None for a cvae, whose encoder also needs the condition. The model calls
        this once, in its constructor, before any other use of the prior.
        """
