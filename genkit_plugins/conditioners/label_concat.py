"""Condition by concatenation: the textbook CVAE (Sohn et al., 2015)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

import genkit_core
from genkit_core import Conditioner, DataInfo, Params

__all__ = ["LabelConcat"]


class LabelConcat(Conditioner):
    """Concatenates the condition (one-hot label, or the vector itself) to x and to z.

    Flat data gets the condition as extra features; images ``(C, H, W)`` get it as constant extra
    channels ``(C + K, H, W)``. The latent becomes ``(L + K,)``.
    """

    Params = Params

    def __init__(self, params: genkit_core.Params, data: DataInfo, latent_dim: int):
        super().__init__(params, data, latent_dim)
        self.width = data.num_classes or data.condition_dim or 0

    @property
    def input_shape(self) -> tuple[int, ...]:
        if self.data.is_image:
            c, h, w = self.data.shape
            return (c + self.width, h, w)
        return (math.prod(self.data.shape) + self.width,)

    @property
    def latent_features(self) -> int:
        return self.latent_dim + self.width

    def encode_condition(self, y: Tensor, dtype: torch.dtype) -> Tensor:
        """``(B,)`` labels to one-hot ``(B, K)``; ``(B, C)`` vectors as they are."""
        if self.data.num_classes is not None:
            return F.one_hot(y.long(), self.data.num_classes).to(dtype)
        return y.to(dtype)

    def join_input(self, x: Tensor, y: Tensor) -> Tensor:
        c = self.encode_condition(y, x.dtype)
        if self.data.is_image:
            _, h, w = self.data.shape
            return torch.cat([x, c[:, :, None, None].expand(-1, -1, h, w)], dim=1)
        return torch.cat([x.flatten(1), c], dim=1)

    def join_latent(self, z: Tensor, y: Tensor) -> Tensor:
        return torch.cat([z, self.encode_condition(y, z.dtype)], dim=1)
