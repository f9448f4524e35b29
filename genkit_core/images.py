"""Image grids of samples and reconstructions, written with torchvision's helpers.

torchvision is imported when the first grid is drawn, not with this module: importing it takes
seconds (it brings torch's compiler with it), which every command would otherwise pay at start,
and a trainer that writes in the background pays it on the writer's thread.
"""

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
    """Save ``(N, C, H, W)`` images as one PNG grid, atomically; small images are enlarged.

    ``images`` must not change afterwards: under a :class:`~genkit_core.files.BackgroundWriter`
    the grid is drawn and encoded later, on the writer's thread.
    """
    atomic_write_with(path, lambda tmp: _draw_grid(tmp, images, nrow))


def _draw_grid(path: Path, images: Tensor, nrow: int) -> None:
    from torchvision.utils import make_grid, save_image

    side = images.shape[-1]
    scale = max(1, 32 // side)
    if scale > 1:
        images = torch.nn.functional.interpolate(images, scale_factor=scale, mode="nearest")
    grid = make_grid(images, nrow=nrow, padding=2, pad_value=1.0)
    save_image(grid, path, format="png")
