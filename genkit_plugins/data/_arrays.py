"""Shared by the array data sources: image layouts and what labels say about the data."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, overload

import numpy as np
import torch
from torch import Tensor

from genkit_core import DataError

__all__ = ["CHANNELS", "Layout", "channels_first", "example_shape", "label_info"]

Layout = Literal["auto", "channels_first", "channels_last"]
CHANNELS = (1, 3, 4)  # grey, RGB, RGBA: what a trailing axis of an (N, H, W, C) image array holds

Array = Tensor | np.ndarray


def _is_channels_last(shape: tuple[int, ...], layout: Layout, where: str) -> bool:
    """Whether a 4-d ``(N, ., ., .)`` array holds channels last, from ``layout`` or its shape."""
    if layout != "auto":
        return layout == "channels_last"
    first, last = shape[1] in CHANNELS, shape[3] in CHANNELS
    if first != last:
        return last
    if first:  # (N, 3, H, 3) and the like: channels first is the PyTorch convention
        return False
    raise DataError(
        f"{where}: cannot tell the channel axis of shape {shape} (neither axis 1 nor axis 3 "
        f"is one of {CHANNELS}); set layout: channels_first or channels_last"
    )


def example_shape(shape: tuple[int, ...], layout: Layout, where: str) -> tuple[int, ...]:
    """The shape of one example, ``(C, H, W)`` or ``(D,)``, of an array of ``shape``.

    ``(N, D)`` stays vectors, ``(N, H, W)`` becomes ``(N, 1, H, W)`` and ``(N, H, W, C)``
    becomes ``(N, C, H, W)`` (``layout: auto`` decides by which axis has 1, 3 or 4 entries).

    Raises:
        DataError: the array is not 2-, 3- or 4-dimensional, or its channel axis is unclear.
    """
    if len(shape) == 2:
        return (shape[1],)
    if len(shape) == 3:
        return (1, shape[1], shape[2])
    if len(shape) == 4:
        if _is_channels_last(shape, layout, where):
            return (shape[3], shape[1], shape[2])
        return tuple(shape[1:])
    raise DataError(
        f"{where}: examples must be an array of shape (N, D), (N, H, W), (N, C, H, W) or "
        f"(N, H, W, C), got shape {shape}"
    )


@overload
def channels_first(x: Tensor, layout: Layout, where: str) -> Tensor: ...
@overload
def channels_first(x: Array, layout: Layout, where: str) -> Array: ...
def channels_first(x: Array, layout: Layout, where: str) -> Array:
    """``x`` as ``(N, C, H, W)`` images (or ``(N, D)`` vectors), a view where possible.

    A memory-mapped array stays memory-mapped (a view): nothing is read here.
    """
    shape = tuple(x.shape)
    example_shape(shape, layout, where)  # raises on a bad shape
    if len(shape) == 3:
        return x[:, None]
    if len(shape) == 4 and _is_channels_last(shape, layout, where):
        return x.permute(0, 3, 1, 2) if isinstance(x, Tensor) else x.transpose(0, 3, 1, 2)
    return x


def _tensor(values: Array) -> Tensor:
    return values if isinstance(values, Tensor) else torch.from_numpy(np.array(values))


def label_info(
    y_train: Array | None, y_test: Array | None, num_classes: int | None, where: str
) -> tuple[int | None, int | None]:
    """``(num_classes, condition_dim)`` said by the labels of both splits.

    Integer labels of shape ``(N,)`` are classes (``num_classes`` defaults to the largest
    label + 1); float arrays of shape ``(N, C)`` are condition vectors.

    Raises:
        DataError: only one split is labelled, or the labels are neither kind.
    """
    if y_train is None and y_test is None:
        return None, None
    if y_train is None or y_test is None:
        raise DataError(
            f"{where}: only the {'test' if y_train is None else 'train'} split has labels; "
            "give both splits labels (or set both y keys to null for unlabelled data)"
        )
    y = _tensor(y_train[:1])
    if y.ndim == 1 and not y.is_floating_point() and y.dtype != torch.bool:
        if num_classes is None:
            num_classes = 1 + max(int(_tensor(labels).max()) for labels in (y_train, y_test))
        return num_classes, None
    if y.ndim == 2 and y.is_floating_point():
        return None, int(y.shape[1])
    raise DataError(
        f"{where}: labels must be integer classes of shape (N,) or float conditions of shape "
        f"(N, C), got {y.dtype} of shape {tuple(y_train.shape)}"
    )


def open_npz(path: Path, shown: object, fix: str) -> Any:
    """``np.load`` of a ``.npz`` without pickles, after checking that it is one: numpy's own
    error for a text file suggests ``allow_pickle``, the one fix genkit must never take.

    Raises:
        DataError: ``path`` is not a zip archive (``shown`` names it; ``fix`` ends the message).
        OSError: it cannot be read.
    """
    with path.open("rb") as f:
        start = f.read(16)
    if not start.startswith(b"PK"):
        raise DataError(
            f"{shown} is not a .npz file (a .npz is a zip archive of arrays, written by "
            f"np.savez; this one starts with {start!r}); {fix}"
        )
    return np.load(path, allow_pickle=False)
