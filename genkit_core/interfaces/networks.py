"""Encoder and Decoder: the two networks of every model.

The posterior turns features into a code (a linear head emitting a Gaussian's mean and
log-variance, an AE's code itself, or a codebook's nearest entries over a feature map), so
networks stay reusable across AE, VAE, CVAE and VQ-VAE.

Features and latents are flat vectors unless a network says otherwise: an encoder may give a
feature map (``out_shape = (C, H, W)``) for a posterior over a grid of codes, and a decoder
with ``shaped_input`` takes a latent of any shape (the grid) instead of a flat vector.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel
from torch import Tensor, nn

from .params import Params

__all__ = ["Decoder", "Encoder"]


class Encoder(nn.Module, ABC):
    """Maps data ``(B, *in_shape)`` to features ``(B, *out_shape)``.

    Args:
        params: the validated spec section (an instance of ``cls.Params``).
        in_shape: shape of one input, after any conditioner has joined its condition,
            e.g. ``(1, 28, 28)`` for images or ``(794,)`` for flat data with a one-hot label.

    Subclasses set ``self.out_features`` in ``__init__``: the features per example, flattened.
    An encoder whose features are not a flat vector (a feature map ``(C, H, W)``) also sets
    ``self.out_shape``; the posterior receives ``out_shape`` as its ``in_shape``.
    """

    kind: ClassVar[str] = "encoder"
    Params: ClassVar[type[BaseModel]] = Params
    out_features: int

    def __init__(self, params: BaseModel, in_shape: tuple[int, ...]):
        super().__init__()
        self.params = params
        self.in_shape = tuple(in_shape)
        self._out_shape: tuple[int, ...] | None = None

    @property
    def out_shape(self) -> tuple[int, ...]:
        """Shape of one example's features: ``(out_features,)`` unless the encoder set another."""
        return self._out_shape if self._out_shape is not None else (self.out_features,)

    @out_shape.setter
    def out_shape(self, shape: tuple[int, ...]) -> None:
        self._out_shape = tuple(int(s) for s in shape)

    @abstractmethod
    def forward(self, x: Tensor) -> Tensor:
        """``(B, *in_shape) -> (B, *out_shape)``."""

    if TYPE_CHECKING:  # nn.Module's __call__ is untyped; calling the module runs forward

        def __call__(self, x: Tensor) -> Tensor: ...


class Decoder(nn.Module, ABC):
    """Maps a latent ``(B, in_features)`` to the parameters of the data distribution.

    Args:
        params: the validated spec section.
        in_features: latent size, after any conditioner has joined its condition (flattened).
        out_shape: ``(P, *data_shape)``: ``P`` parameters per data element, as the likelihood
            asks (``Likelihood.num_params``), e.g. ``(1, 1, 28, 28)`` for Bernoulli logits.
        in_shape: the latent's own shape, e.g. a grid of codes ``(D, H, W)``; given only to a
            decoder with :attr:`shaped_input` (it defaults to ``(in_features,)``).
    """

    kind: ClassVar[str] = "decoder"
    Params: ClassVar[type[BaseModel]] = Params
    shaped_input: ClassVar[bool] = False
    """True: the constructor takes ``in_shape`` and ``forward`` takes latents ``(B, *in_shape)``
    as they are (a grid of codes); False: ``forward`` takes them flattened to ``(B, in_features)``.
    """

    def __init__(
        self,
        params: BaseModel,
        in_features: int,
        out_shape: tuple[int, ...],
        in_shape: tuple[int, ...] | None = None,
    ):
        super().__init__()
        self.params = params
        self.in_features = int(in_features)
        self.out_shape = tuple(out_shape)
        self.in_shape = (self.in_features,) if in_shape is None else tuple(in_shape)

    @abstractmethod
    def forward(self, z: Tensor) -> Tensor:
        """``(B, *in_shape) -> (B, *out_shape)`` (``in_shape`` is ``(in_features,)`` unless
        the decoder has :attr:`shaped_input`).
        """

    if TYPE_CHECKING:  # nn.Module's __call__ is untyped; calling the module runs forward

        def __call__(self, z: Tensor) -> Tensor: ...
