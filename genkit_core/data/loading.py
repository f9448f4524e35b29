"""Loading a spec's data: the source's splits, genkit's data options, and the checks.

Bad data (non-finite values, wrong shapes, labels out of range or missing, empty splits) is a
:class:`~genkit_core.errors.DataError` before the first training step, never a NaN later.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, cast

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, Subset

from ..components import build_component
from ..errors import DataError, GenkitError
from ..interfaces import DataBundle, DataInfo, DataParams, DataSource, Split
from ..registry import Registry
from ..spec import MODEL_KINDS, ModelSpec

__all__ = [
    "as_float",
    "binarize",
    "check_split",
    "chunk_rows",
    "data_source",
    "describe_data",
    "load_data",
    "load_resolved_data",
    "measured_draw",
]

_CHUNK_ELEMENTS = 1 << 22
"""Checks read data in chunks of this many values (16 MiB as float32), so that checking a data
set never holds a float copy of all of it."""


def chunk_rows(x: Tensor | np.ndarray) -> int:
    """How many examples of ``x`` make one chunk of about :data:`_CHUNK_ELEMENTS` values."""
    per_row = int(np.prod(x.shape[1:], dtype=np.int64)) if len(x.shape) > 1 else 1
    return max(1, _CHUNK_ELEMENTS // max(1, per_row))


def as_float(x: Tensor) -> Tensor:
    """Examples as float32: ``uint8`` values map to [0, 1] (x / 255); floats pass unchanged."""
    if x.dtype == torch.uint8:
        return x / 255  # true division promotes to float32 in one kernel: no uint8->float copy
    return x if x.dtype == torch.float32 else x.float()


def binarize(x: Tensor, generator: torch.Generator) -> Tensor:
    """One draw of x ~ Bernoulli(pixel intensity), as ``uint8`` 0 / 255 (so it reads as 0 / 1)."""
    draws = torch.bernoulli(as_float(x), generator=generator)
    return draws.to(torch.uint8).mul_(255)


def measured_draw(params: DataParams) -> dict[str, Any] | None:
    """Which draw of the test split a data section measures on: ``{"binarize": "dynamic",
    "seed": 0}``, or None for data that is not binarised (its test images are fixed).
    Figures of two runs are comparable only when their draws are equal.
    """
    if params.binarize == "none":
        return None
    return {"binarize": params.binarize, "seed": params.binarize_seed}


def data_source(spec: ModelSpec, registry: Registry | None = None) -> DataSource:
    """The spec's data source, ready to ``load()``."""
    return cast(DataSource, build_component("data", spec.data, registry))


def describe_data(spec: ModelSpec, registry: Registry | None = None) -> DataInfo:
    """The shape and labels of the spec's data, after genkit's data options (``flatten``), known
    without loading it (so ``train_size`` is unknown).
    """
    info = data_source(spec, registry).describe()
    if spec.data.flatten:
        info = replace(info, shape=(math.prod(info.shape),))
    return replace(info, train_size=None)


def load_data(spec: ModelSpec, registry: Registry | None = None) -> DataBundle:
    """Load the spec's data, apply genkit's data options and check it against the spec.

    Raises:
        DataError: the source failed, or the data does not fit the spec.
    """
    return load_resolved_data(spec, registry)[1]


def load_resolved_data(
    spec: ModelSpec, registry: Registry | None = None
) -> tuple[ModelSpec, DataBundle]:
    """:func:`load_data`, and the spec with its data section as the source used it.

    A source may resolve its parameters while loading (``tensor_file`` sets a default label
    key that its file lacks to null); the run's ``spec.yaml`` records the resolved section, so
    it describes the data that was used and loads again without the guess.

    Raises:
        DataError: the source failed, or the data does not fit the spec.
    """
    name = spec.data.type
    source = data_source(spec, registry)
    try:
        bundle = source.load()
    except GenkitError:
        raise
    except Exception as exc:
        raise DataError(f"data '{name}' failed to load: {type(exc).__name__}: {exc}") from exc
    bundle = _apply_options(bundle, spec.data, spec.train.seed)
    labelled = MODEL_KINDS[spec.model].labelled
    for split_name, split in (("train", bundle.train), ("test", bundle.test)):
        check_split(split, bundle.info, split_name, name, needs_labels=labelled)
    if source.params != spec.data:
        spec = spec.model_copy(update={"data": source.params})
    return spec, bundle


def _apply_options(bundle: DataBundle, params: DataParams, seed: int) -> DataBundle:
    info = bundle.info
    train, test = bundle.train, bundle.test
    if params.max_train is not None:
        train = _limit(train, params.max_train)
    if params.max_test is not None:
        test = _limit(test, params.max_test)
    if params.flatten:
        info = replace(info, shape=(math.prod(info.shape),))
        train, test = _flatten(train), _flatten(test)
    if params.binarize != "none":
        grey_test = _in_memory(test, "binarize")
        test_generator = torch.Generator().manual_seed(params.binarize_seed)
        test = Split(binarize(grey_test, test_generator), test.y)
        if params.binarize == "static":
            generator = torch.Generator().manual_seed(seed)
            # before binarize_seed the test set was drawn first from this generator: drawing
            # (and dropping) it keeps the training draw of a static run as it always was
            binarize(grey_test, generator)
            train = Split(binarize(_in_memory(train, "binarize"), generator), train.y)
    return DataBundle(train, test, replace(info, train_size=len(train)))


def _limit(split: Split, n: int) -> Split:
    if isinstance(split.x, Dataset) and not isinstance(split.x, Tensor | np.ndarray):
        return Split(Subset(split.x, range(min(n, len(split)))), None)
    return Split(split.x[:n], None if split.y is None else split.y[:n])


def _flatten(split: Split) -> Split:
    if isinstance(split.x, Tensor | np.ndarray):
        # the size, not -1: an empty split must reach check_split's "it is empty", and -1 is
        # ambiguous with no rows
        return Split(split.x.reshape(len(split.x), math.prod(split.x.shape[1:])), split.y)
    return Split(_FlatDataset(split.x), None)


class _FlatDataset(Dataset[tuple[Tensor, Any]]):
    """Items of a dataset with their examples flattened."""

    def __init__(self, dataset: Dataset[tuple[Any, Any]]):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[Tensor, Any]:
        x, y = self.dataset[index]
        return torch.as_tensor(x).reshape(-1), y


def _in_memory(split: Split, option: str) -> Tensor:
    if isinstance(split.x, Tensor):
        return split.x
    if isinstance(split.x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(split.x))
    raise DataError(f"data.{option} needs data held in memory (tensors or arrays), not a folder")


def check_split(
    split: Split, info: DataInfo, split_name: str, name: str, needs_labels: bool
) -> None:
    """Refuse an empty split, wrong shapes, non-finite values and bad labels.

    Raises:
        DataError: naming the data, the split and the problem.
    """
    where = f"data '{name}', {split_name} split"
    n = len(split)
    if n == 0:
        raise DataError(f"{where}: it is empty; check the file or the max_{split_name} option")
    x = split.x
    if not isinstance(x, Tensor | np.ndarray):
        _check_item(x, info, where)
        return
    if tuple(x.shape[1:]) != tuple(info.shape):
        raise DataError(
            f"{where}: examples have shape {tuple(x.shape[1:])} but the data says {info.shape}; "
            "check the layout option or the arrays in the file"
        )
    _check_finite(x, where, "examples")
    _check_labels(split.y, n, info, where, needs_labels)


def _check_item(dataset: Dataset[tuple[Any, Any]], info: DataInfo, where: str) -> None:
    x, _ = dataset[0]
    shape = tuple(torch.as_tensor(x).shape)
    if shape != tuple(info.shape):
        raise DataError(f"{where}: the first example has shape {shape}, expected {info.shape}")


def _check_finite(values: Tensor | np.ndarray, where: str, what: str) -> None:
    if not _is_float(values):
        return
    rows = chunk_rows(values)
    for start in range(0, len(values), rows):
        chunk = torch.as_tensor(np.asarray(values[start : start + rows]))
        bad = ~torch.isfinite(chunk)
        if bool(bad.any()):
            first = start + int(bad.flatten(1).any(1).nonzero()[0, 0]) if chunk.ndim > 1 else start
            raise DataError(
                f"{where}: {what} hold non-finite values (NaN or inf), the first at index {first}; "
                "clean the data before training"
            )


def _is_float(values: Tensor | np.ndarray) -> bool:
    if isinstance(values, Tensor):
        return values.is_floating_point()
    return np.issubdtype(values.dtype, np.floating)


def _check_labels(
    y: Tensor | np.ndarray | None, n: int, info: DataInfo, where: str, needs_labels: bool
) -> None:
    if y is None:
        if needs_labels:
            raise DataError(f"{where}: a cvae needs labels, and this split has none")
        return
    if len(y) != n:
        raise DataError(f"{where}: {len(y)} labels for {n} examples")
    if info.num_classes is not None:
        # NumPy labels are copied: they may be a read-only memory map
        labels = y if isinstance(y, Tensor) else torch.from_numpy(np.array(y))
        if labels.ndim != 1 or labels.is_floating_point() or labels.dtype == torch.bool:
            raise DataError(
                f"{where}: class labels must be integers of shape (N,), got "
                f"{labels.dtype} of shape {tuple(labels.shape)}"
            )
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= info.num_classes:
            raise DataError(
                f"{where}: labels range over [{low}, {high}] but there are {info.num_classes} "
                f"classes (0 to {info.num_classes - 1})"
            )
    elif info.condition_dim is not None:
        if tuple(y.shape) != (n, info.condition_dim):
            raise DataError(
                f"{where}: conditions have shape {tuple(y.shape)}, "
                f"expected ({n}, {info.condition_dim})"
            )
        _check_finite(y, where, "conditions")
