"""Encoder and Decoder: the two networks of every model.

The model adds what turns features into a code (a linear head emitting the posterior's mean and
log-variance, or the code itself for an AE), so networks stay reusable across AE, VAE and CVAE.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from pydantic import BaseModel
from torch import Tensor, nn

from .params import Params

__all__ = ["Decoder", "Encoder"]


class Encoder(nn.Module, ABC):
    """Maps data ``(B, *in_shape)`` to features ``(B, out_features)``.

    Args:
        params: the validated spec section (an instance of ``cls.Params``).
        in_shape: shape of one input, after any conditioner has joined its condition,
            e.g. ``(1, 28, 28)`` for images or ``(794,)`` for flat data with a one-hot label.

    Subclasses set ``self.out_features`` in ``__init__``.
    """

    kind: ClassVar[str] = "encoder"
    Params: ClassVar[type[BaseModel]] = Params
    out_features: int

    def __init__(self, params: BaseModel, in_shape: tuple[int, ...]):
        super().__init__()
        self.params = params
        self.in_shape = tuple(in_shape)

    @abstractmethod
    def forward(self, x: Tensor) -> Tensor:
        """``(B, *in_shape) -> (B, out_features)``."""


class Decoder(nn.Module, ABC):
    """Maps a latent ``(B, in_features)`` to the parameters of the data distribution.

    Args:
        params: the validated spec section.
        in_features: latent size, after any conditioner has joined its condition.
        out_shape: ``(P, *data_shape)``: ``P`` parameters per data element, as the likelihood
            asks (``Likelihood.num_params``), e.g. ``(1, 1, 28, 28)`` for Bernoulli logits.
    """

    kind: ClassVar[str] = "decoder"
    Params: ClassVar[type[BaseModel]] = Params

    def __init__(self, params: BaseModel, in_features: int, out_shape: tuple[int, ...]):
        super().__init__()
        self.params = params
        self.in_features = int(in_features)
        self.out_shape = tuple(out_shape)

    @abstractmethod
    def forward(self, z: Tensor) -> Tensor:
        """``(B, in_features) -> (B, *out_shape)``."""
