"""Image grids of samples and reconstructions, written with torchvision's helpers."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor

from .files import atomic_write_with

__all__ = ["as_images", "save_grid"]


def as_images(x: Tensor, shape: tuple[int, ...]) -> Tensor | None:
    """``(N, *shape)`` examples as ``(N, C, H, W)`` images in [0, 1]; None if not images.

    Flat examples of a square size (64, 784, ...) are shown as square grey images.
    """
    if len(shape) == 3 and shape[0] in (1, 3):
        images = x
    elif len(shape) == 1 and math.isqrt(shape[0]) ** 2 == shape[0]:
        side = math.isqrt(shape[0])
        images = x.reshape(len(x), 1, side, side)
    else:
        return None
    return images.detach().float().clamp(0, 1).cpu()


def save_grid(path: Path, images: Tensor, nrow: int = 8) -> None:
    """Save ``(N, C, H, W)`` images as one PNG grid, atomically; small images are enlarged."""
    from torchvision.utils import make_grid, save_image  # imported here: torchvision is slow

    side = images.shape[-1]
    scale = max(1, 32 // side)
    if scale > 1:
        images = torch.nn.functional.interpolate(images, scale_factor=scale, mode="nearest")
    grid = make_grid(images, nrow=nrow, padding=2, pad_value=1.0)
    atomic_write_with(path, lambda tmp: save_image(grid, tmp, format="png"))
