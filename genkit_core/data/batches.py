"""Batch sources: a split held on the device (the fast path) or streamed from disk.

Both take one permutation per epoch, shared by every rank, and give rank r the rows
``[i*G + r*b, i*G + (r+1)*b)`` of global batch i (per-rank batch b, global batch G = b * world),
so a data-parallel run sees exactly the batches of a single process with batch G. A last,
partial global batch is shared out as evenly as :func:`shard_rows` can (a rank may get none).
The held-out split is shared out in whole batches (:func:`eval_batches`).
"""

from __future__ import annotations

import math
import mmap
import os
from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from ..interfaces import DataInfo, Split
from .loading import binarize

__all__ = [
    "Batches",
    "BinarizedEachEpoch",
    "InMemoryBatches",
    "StreamedBatches",
    "eval_batches",
    "fits_in_memory",
    "make_batches",
    "shard_rows",
]

Batch = tuple[Tensor, Tensor | None]


class Batches(Protocol):
    """A split cut into batches; ``steps`` batches per epoch for this rank."""

    steps: int

    def epoch(self, order: Tensor, start: int = 0) -> Iterator[Batch]:
        """This rank's batches from ``start`` on, for the epoch permutation ``order``."""
        ...

    def set_epoch(self, epoch: int) -> None:
        """Epoch ``epoch`` (0-based) begins: data that changes per epoch is drawn now."""
        ...

    def in_order(self) -> Iterator[Batch]:
        """This rank's share of the split's batches, in order (for evaluation)."""
        ...


def shard_rows(size: int, world: int, rank: int) -> tuple[int, int]:
    """Rows ``[lo, hi)`` of ``size`` that ``rank`` of ``world`` takes.

    The shares are contiguous, in rank order, and differ in size by at most one: rank r takes
    ``[r*b, (r+1)*b)`` when ``size`` = b * world.
    """
    share, extra = divmod(size, world)
    lo = rank * share + min(rank, extra)
    return lo, lo + share + int(rank < extra)


def eval_batches(n: int, batch_size: int, world: int, rank: int) -> range:
    """The held-out batches ``j`` (rows ``[j*E, (j+1)*E)`` of ``n``) that ``rank`` evaluates."""
    return range(*shard_rows(math.ceil(n / batch_size), world, rank))


def _steps(n: int, batch_size: int, world: int, drop_last: bool) -> int:
    full, rest = divmod(n, batch_size * world)
    return full + int(rest > 0 and not drop_last)


def _rows(i: int, n: int, batch_size: int, world: int, rank: int) -> tuple[int, int]:
    start = i * batch_size * world
    lo, hi = shard_rows(min(batch_size * world, n - start), world, rank)
    return start + lo, start + hi


class InMemoryBatches:
    """The whole split as one tensor on the device; each batch is an ``index_select``.

    Args:
        x: ``(N, *shape)`` examples on the device, ``uint8`` kept as such (4x less memory).
        y: ``(N,)`` or ``(N, C)`` conditions on the device, or None.
        batch_size: per-rank batch b.
    """

    def __init__(
        self,
        x: Tensor,
        y: Tensor | None,
        batch_size: int,
        world: int = 1,
        rank: int = 0,
        drop_last: bool = False,
    ):
        self.x, self.y = x, y
        self.batch_size, self.world, self.rank = batch_size, world, rank
        self.steps = _steps(len(x), batch_size, world, drop_last)

    def set_epoch(self, epoch: int) -> None:
        """The same examples every epoch."""

    def epoch(self, order: Tensor, start: int = 0) -> Iterator[Batch]:
        order = order.to(self.x.device, non_blocking=True)
        for i in range(start, self.steps):
            lo, hi = _rows(i, len(self.x), self.batch_size, self.world, self.rank)
            index = order[lo:hi]
            yield self.x.index_select(0, index), None if self.y is None else self.y[index]

    def in_order(self) -> Iterator[Batch]:
        """This rank's share of the split's batches, in order (for evaluation)."""
        for j in eval_batches(len(self.x), self.batch_size, self.world, self.rank):
            start, stop = j * self.batch_size, min((j + 1) * self.batch_size, len(self.x))
            yield self.x[start:stop], None if self.y is None else self.y[start:stop]


class BinarizedEachEpoch(InMemoryBatches):
    """Dynamic binarisation: each epoch trains on a fresh draw x ~ Bernoulli(grey pixel),
    seeded by (``seed``, epoch), so a resumed run draws what an uninterrupted one did.

    ``x`` is the current epoch's draw (what a prior fitted after training is fitted to).
    """

    def __init__(self, grey: InMemoryBatches, seed: int):
        super().__init__(grey.x, grey.y, grey.batch_size, grey.world, grey.rank)
        self.steps, self.grey, self.seed = grey.steps, grey.x, seed

    def set_epoch(self, epoch: int) -> None:
        seed = (self.seed * 1_000_003 + epoch) % (2**63)
        self.x = binarize(self.grey, torch.Generator(self.grey.device).manual_seed(seed))


class _Remapped:
    """Where a view of a memory-mapped file lies, to map it again in another process.

    Pickling an ``np.memmap`` copies its data; a worker started by spawn or forkserver (the
    default outside Linux, and on Linux from Python 3.14) gets this instead and maps the file.
    """

    def __init__(self, view: np.memmap, filename: str):
        granule = view.offset - view.offset % mmap.ALLOCATIONGRANULARITY  # where the map begins
        mapped = np.frombuffer(view._mmap, np.uint8).ctypes.data  # type: ignore[attr-defined]
        self.filename, self.at = filename, granule + view.ctypes.data - mapped
        self.dtype, self.shape, self.strides = view.dtype, view.shape, view.strides

    def open(self) -> np.ndarray:
        whole = np.memmap(self.filename, np.uint8, mode="r")
        view: np.ndarray = np.ndarray(self.shape, self.dtype, whole, self.at, self.strides)
        return view


def _portable(values: Any) -> Any:
    is_map = isinstance(values, np.memmap) and getattr(values, "_mmap", None) is not None
    # a map of a file without a path (a TemporaryFile) cannot be mapped again: its data travels
    path = values.filename if is_map else None
    return _Remapped(values, path) if path and min(values.strides, default=0) >= 0 else values


class _ArrayBatches(Dataset[Batch]):
    """Rows of (memory-mapped) arrays, fetched a whole batch at a time by a DataLoader worker."""

    def __init__(self, x: np.ndarray | Tensor, y: np.ndarray | Tensor | None):
        self.x, self.y = x, y

    def __getstate__(self) -> dict[str, Any]:
        return {"x": _portable(self.x), "y": _portable(self.y)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, values in state.items():
            setattr(self, name, values.open() if isinstance(values, _Remapped) else values)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: list[int]) -> Batch:
        rows = np.asarray(index)
        x = torch.as_tensor(np.asarray(self.x[rows]))
        return x, None if self.y is None else torch.as_tensor(np.asarray(self.y[rows]))


def _take(batch: Any) -> Any:
    return batch


class StreamedBatches:
    """A split read from disk in batches by ``DataLoader`` workers, for data that does not fit.

    Args:
        split: arrays (memory-mapped ``.npy`` files, say) or a map-style Dataset of (x, y).
        labelled: whether batches carry labels.
        device: where batches go (pinned memory and non-blocking copies on CUDA).
    """

    def __init__(
        self,
        split: Split,
        labelled: bool,
        batch_size: int,
        device: torch.device,
        num_workers: int,
        world: int = 1,
        rank: int = 0,
        drop_last: bool = False,
    ):
        arrays = isinstance(split.x, np.ndarray | Tensor)
        self.dataset: Dataset[tuple[Any, Any]] = (
            _ArrayBatches(split.x, split.y) if isinstance(split.x, np.ndarray | Tensor) else split.x
        )
        self._batched = arrays
        self.labelled, self.device, self.num_workers = labelled, device, num_workers
        self.batch_size, self.world, self.rank = batch_size, world, rank
        self.n = len(split)
        self.steps = _steps(self.n, batch_size, world, drop_last)

    def _loader(self, batches: list[list[int]]) -> DataLoader[tuple[Any, Any]]:
        pin = self.device.type == "cuda"
        if self._batched:  # the dataset fetches whole batches itself
            return DataLoader(
                self.dataset, sampler=batches, batch_size=None, collate_fn=_take,
                num_workers=self.num_workers, pin_memory=pin,
            )  # fmt: skip
        return DataLoader(
            self.dataset, batch_sampler=batches, num_workers=self.num_workers, pin_memory=pin
        )

    def set_epoch(self, epoch: int) -> None:
        """The same examples every epoch."""

    def epoch(self, order: Tensor, start: int = 0) -> Iterator[Batch]:
        batches, keep = [], []
        for i in range(start, self.steps):
            lo, hi = _rows(i, self.n, self.batch_size, self.world, self.rank)
            # a rank with no rows still steps (DDP needs every rank): read one row, keep none
            batches.append(order[lo:hi].tolist() if hi > lo else order[lo - 1 : lo].tolist())
            keep.append(hi - lo)
        for (x, y), rows in zip(self._moved(self._loader(batches)), keep, strict=True):
            yield x[:rows], None if y is None else y[:rows]

    def in_order(self) -> Iterator[Batch]:
        """This rank's share of the split's batches, in order (for evaluation)."""
        b = self.batch_size
        batches = [
            list(range(j * b, min((j + 1) * b, self.n)))
            for j in eval_batches(self.n, b, self.world, self.rank)
        ]
        yield from self._moved(self._loader(batches))

    def _moved(self, loader: DataLoader[tuple[Any, Any]]) -> Iterator[Batch]:
        for x, y in loader:
            x = x.to(self.device, non_blocking=True)
            y = y.to(self.device, non_blocking=True) if self.labelled and y is not None else None
            yield x, y


def _nbytes(split: Split, info: DataInfo) -> int:
    if isinstance(split.x, Tensor):
        return split.x.numel() * split.x.element_size()
    if isinstance(split.x, np.ndarray):
        return split.x.nbytes
    return len(split) * math.prod(info.shape)  # a folder of 8-bit images, read as uint8


def _free_memory(device: torch.device) -> int | None:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not available on this platform
        return None


def fits_in_memory(split: Split, info: DataInfo, device: torch.device) -> bool:
    """Whether the split takes at most half of the device's free memory."""
    free = _free_memory(device)
    return free is None or _nbytes(split, info) <= free // 2


def _materialize(split: Split, labelled: bool, num_workers: int) -> tuple[Tensor, Tensor | None]:
    """The split as tensors (reading a Dataset once, in batches, through workers)."""
    if isinstance(split.x, np.ndarray | Tensor):
        x = split.x
        if isinstance(x, np.ndarray):  # a memory-mapped file is read into memory here
            x = np.array(x) if isinstance(x, np.memmap) else np.ascontiguousarray(x)
        y = split.y if split.y is None or isinstance(split.y, Tensor) else np.array(split.y)
        y = None if y is None or not labelled else torch.as_tensor(y)
        return torch.as_tensor(x), y
    loader = DataLoader(split.x, batch_size=512, num_workers=num_workers)
    xs, ys = zip(*loader, strict=True)
    return torch.cat(xs), torch.cat(ys) if labelled else None


def make_batches(
    split: Split,
    info: DataInfo,
    labelled: bool,
    batch_size: int,
    device: torch.device,
    placement: str = "auto",
    num_workers: int = 2,
    world: int = 1,
    rank: int = 0,
    drop_last: bool = False,
) -> InMemoryBatches | StreamedBatches:
    """Hold the split on the device when it fits (or ``placement`` says so), else stream it."""
    if placement == "stream" or (placement == "auto" and not fits_in_memory(split, info, device)):
        return StreamedBatches(
            split, labelled, batch_size, device, num_workers, world, rank, drop_last
        )
    x, y = _materialize(split, labelled, num_workers)
    y = None if y is None else (y.long() if info.num_classes is not None else y.float())
    return InMemoryBatches(
        x.to(device), None if y is None else y.to(device), batch_size, world, rank, drop_last
    )
