"""Image grids of samples and reconstructions: what they show, and how they are drawn.

:func:`sample_grid` and :func:`reconstruction_pairs` are the one place that decides what a
model's sample grid and its reconstruction pairs are; the pictures of each epoch, ``genkit
sample``, ``genkit reconstruct`` and ``genkit report`` all draw them.

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
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import torch
from torch import Tensor

from .files import atomic_write_with

if TYPE_CHECKING:
    from .model import LatentVariableModel

__all__ = ["SampleGrid", "as_images", "reconstruction_pairs", "sample_grid", "save_grid"]


class SampleGrid(NamedTuple):
    """A model's samples laid out as a grid.

    Attributes:
        x: ``(N, *data_shape)`` the samples.
        labels: ``(N,)`` the class of each (one row per class) or ``(N, C)`` the condition, or
            None for a model without a conditioner.
        nrow: images per row.
    """

    x: Tensor
    labels: Tensor | None
    nrow: int


@torch.no_grad()
def sample_grid(
    model: LatentVariableModel,
    n: int = 64,
    per_class: int = 8,
    label: int | None = None,
    condition: Tensor | None = None,
    nrow: int = 8,
    seed: int | None = None,
    mean: bool = True,
) -> SampleGrid:
    """A model's samples as a grid: for a cvae of classes, ``per_class`` of each class, a row
    each; otherwise ``n``, ``nrow`` to a row.

    A model that cannot sample (an autoencoder without a prior fitted after training,
    ``model.can_sample`` False) has no grid: the caller decides what to do instead.

    Args:
        model: the model, on its device (put in eval mode by the caller).
        n: how many samples, unless one row per class is drawn.
        per_class: samples of each class of a cvae of classes (without ``label``).
        label: draw ``n`` samples of this one class (a cvae of classes).
        condition: a cvae conditioned on vectors draws all ``n`` with this condition, ``(C,)``
            or ``(1, C)``, or each with its own, ``(n, C)``; ignored by a model without a
            conditioner.
        nrow: images per row, unless one row per class is drawn.
        seed: draw under this seed and leave torch's random state as it was; None: draw from
            the current random state.
        mean: show the likelihood's mean (sharper) instead of a draw from it.

    Raises:
        TypeError: the model cannot sample.
        ValueError: ``label`` for a model that is not a cvae of classes, or out of range; no
            ``condition`` for a cvae conditioned on vectors.
    """
    device = next(model.parameters()).device
    classes = model.data_info.num_classes
    conditioned = model.conditioner is not None
    labels: Tensor | None = None
    if label is not None:
        if not conditioned or classes is None:
            raise ValueError("a label needs a cvae of classes")
        if not 0 <= label < classes:
            raise ValueError(f"label {label} is not a class: they are 0 to {classes - 1}")
        labels = torch.full((n,), label, device=device)
    elif conditioned and classes is not None:
        labels = torch.arange(classes, device=device).repeat_interleave(per_class)
        n, nrow = len(labels), per_class
    elif conditioned:
        if condition is None:
            raise ValueError("this cvae is conditioned on vectors: give a condition to draw with")
        rows = condition.to(device).reshape(-1, condition.shape[-1])
        if len(rows) not in (1, n):
            raise ValueError(
                f"a condition of shape {tuple(condition.shape)} for {n} samples: give (C,), "
                f"(1, C) or ({n}, C)"
            )
        labels = rows.expand(n, -1)
    devices = [device] if device.type == "cuda" and seed is not None else []
    with torch.random.fork_rng(devices=devices, enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        return SampleGrid(model.sample(n, labels, mean=mean), labels, nrow)


@torch.no_grad()
def reconstruction_pairs(model: LatentVariableModel, x: Tensor, y: Tensor | None = None) -> Tensor:
    """Each input followed by its reconstruction (the likelihood's mean at its code).

    Args:
        model: the model (put in eval mode by the caller).
        x: ``(B, *data_shape)`` float inputs on the model's device.
        y: ``(B,)`` labels or ``(B, C)`` conditions; used by a cvae only.

    Returns:
        ``(2B, *data_shape)``: input 0, its reconstruction, input 1, ...; shown 16 to a row,
        pairs sit side by side.
    """
    y = y if model.conditioner is not None else None
    return torch.stack([x, model.reconstruct(x, y)], dim=1).flatten(0, 1)


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
