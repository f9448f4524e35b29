"""Image grids of samples and reconstructions, laid out as torchvision's ``save_image`` does.

The grid is drawn with torch on the calling thread and only encoded (PNG, by Pillow) and written
on a :class:`~genkit_core.files.BackgroundWriter`'s thread. A torch operation on another thread
gives that thread a pool of OpenMP threads of its own; while it lives, OpenMP has more threads
than cores and makes every pool sleep between operations instead of waiting for the next one, so
a trainer's steps on two threads ran 1.2x slower once its writer had drawn the first pictures
(docs/performance.md). torchvision is not needed (importing it takes seconds).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
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
    """Save ``(N, C, H, W)`` images in [0, 1] as one PNG grid, atomically; small images are
    enlarged. Under a :class:`~genkit_core.files.BackgroundWriter` the grid is drawn now and
    encoded and written on the writer's thread, which runs no torch operation.
    """
    pixels = _grid_pixels(images, nrow)
    atomic_write_with(path, lambda tmp: _write_png(tmp, pixels))


def _grid_pixels(images: Tensor, nrow: int = 8, padding: int = 2) -> np.ndarray:
    """The ``(H, W, 3)`` ``uint8`` pixels of torchvision's ``save_image(images, nrow=nrow,
    padding=padding, pad_value=1.0)`` for ``(N, C, H, W)`` images (C 1 or 3), images under 32 pixels
    wide enlarged (nearest) to at least 32: ``nrow`` images a row, white lines between them.
    """
    side = images.shape[-1]
    scale = max(1, 32 // side)
    if scale > 1:
        images = torch.nn.functional.interpolate(images, scale_factor=scale, mode="nearest")
    if images.shape[1] == 1:  # grey as RGB, as torchvision shows it
        images = images.expand(-1, 3, -1, -1)
    n, c, h, w = images.shape
    if n == 1:
        grid = images[0]
    else:
        cols = min(nrow, n)
        rows = math.ceil(n / cols)
        # every image with the line above and left of it, the missing ones of the last row blank
        cells = torch.nn.functional.pad(images, (padding, 0, padding, 0), value=1.0)
        cells = torch.cat([cells, cells.new_ones(rows * cols - n, *cells.shape[1:])])
        cells = cells.reshape(rows, cols, c, h + padding, w + padding).permute(2, 0, 3, 1, 4)
        grid = cells.reshape(c, rows * (h + padding), cols * (w + padding))
        grid = torch.nn.functional.pad(grid, (0, padding, 0, padding), value=1.0)
    pixels = grid.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to("cpu", torch.uint8)
    return pixels.numpy()


def _write_png(path: Path, pixels: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(pixels).save(path, "png")
