"""Conditioner: joins a condition (class label or vector) to the encoder's input and the latent."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from pydantic import BaseModel
from torch import Tensor, nn

from .data import DataInfo
from .params import Params

__all__ = ["Conditioner"]


class Conditioner(nn.Module, ABC):
    """Joins a condition ``y`` to x before the encoder and to z before the decoder.

    ``y`` is ``(B,)`` int64 class labels when ``data.num_classes`` is set, or ``(B, C)`` float
    vectors when ``data.condition_dim`` is set. The condition takes no part in the loss.

    Args:
        params: the validated spec section.
        data: what the data source provides (shape, classes, condition size).
        latent_dim: L.
    """

    kind: ClassVar[str] = "conditioner"
    Params: ClassVar[type[BaseModel]] = Params

    def __init__(self, params: BaseModel, data: DataInfo, latent_dim: int):
        super().__init__()
        self.params = params
        self.data = data
        self.latent_dim = int(latent_dim)

    @property
    @abstractmethod
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one encoder input after ``join_input`` (the encoder is built for it)."""

    @property
    @abstractmethod
    def latent_features(self) -> int:
        """Size of one decoder input after ``join_latent``."""

    @abstractmethod
    def join_input(self, x: Tensor, y: Tensor) -> Tensor:
        """``(B, *data_shape), y -> (B, *input_shape)``."""

    @abstractmethod
    def join_latent(self, z: Tensor, y: Tensor) -> Tensor:
        """``(B, L), y -> (B, latent_features)``."""
