"""Turning figures and image grids into PNG bytes (matplotlib's Agg backend, no display)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # figures are files; never open a window

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from torch import Tensor
from torchvision.utils import make_grid

__all__ = ["figure_png", "grid_figure"]

_PAD = 2


def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    """The figure as PNG bytes; the figure is closed (matplotlib keeps open ones alive)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def grid_figure(
    images: Tensor,
    nrow: int,
    title: str | None = None,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    cell_inches: float = 0.6,
) -> Figure:
    """``(N, C, H, W)`` images in [0, 1] as a grid of ``nrow`` per row, rows and columns labelled.

    ``make_grid`` lays the images out; the figure adds the labels, so a PNG names its rows.
    """
    grid = make_grid(images, nrow=nrow, padding=_PAD, pad_value=1.0)
    rows = -(-len(images) // nrow)
    h, w = images.shape[-2] + _PAD, images.shape[-1] + _PAD
    fig = plt.figure(figsize=(max(2.0, nrow * cell_inches), max(1.0, rows * cell_inches)))
    ax = fig.add_subplot()
    ax.imshow(grid.permute(1, 2, 0).numpy(), interpolation="nearest", vmin=0, vmax=1)
    ax.set_xticks([_PAD / 2 + w * (i + 0.5) for i in range(len(col_labels or []))])
    ax.set_xticklabels(col_labels or [], fontsize=7)
    ax.set_yticks([_PAD / 2 + h * (i + 0.5) for i in range(len(row_labels or []))])
    ax.set_yticklabels(row_labels or [], fontsize=8)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title, fontsize=9)
    return fig
