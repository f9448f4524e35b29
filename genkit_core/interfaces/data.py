"""DataSource: where training and test examples come from.

A source returns whole splits. Tensors (or NumPy arrays, memory-mapped ones included) are the
fast path: genkit holds them on the device and batches by index. A map-style ``Dataset`` is for
data that is read item by item (image folders); genkit streams it through a ``DataLoader``
unless it fits in memory.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import torch
from pydantic import BaseModel
from torch.utils.data import Dataset

from .params import DataParams

__all__ = ["DataBundle", "DataInfo", "DataSource", "GroundTruthData", "Split"]

ArrayLike = torch.Tensor | np.ndarray


@dataclass(frozen=True)
class DataInfo:
    """What a data source provides, known before (or without) loading it.

    Attributes:
        shape: shape of one example, ``(C, H, W)`` for images or ``(D,)`` for vectors.
        num_classes: number of class labels, or None if the data has no class labels.
        condition_dim: size of a continuous condition vector, or None.
        name: a human name for messages.
        train_size: N, the number of training examples, once the data is loaded (None when
            only described); components that weigh a minibatch against the data set read it.
    """

    shape: tuple[int, ...]
    num_classes: int | None = None
    condition_dim: int | None = None
    name: str = "data"
    train_size: int | None = None

    @property
    def labelled(self) -> bool:
        """Whether the data carries a condition a CVAE can use."""
        return self.num_classes is not None or self.condition_dim is not None

    @property
    def is_image(self) -> bool:
        """Whether examples are ``(C, H, W)`` images."""
        return len(self.shape) == 3


@dataclass(frozen=True)
class Split:
    """One split (train or test).

    Attributes:
        x: ``(N, *shape)`` examples: a tensor or NumPy array (``uint8`` means 8-bit values that
            genkit maps to [0, 1]; floats are used as they are), or a map-style ``Dataset`` whose
            items are ``(x, y)`` pairs (``y`` ignored when unlabelled).
        y: ``(N,)`` int class labels or ``(N, C)`` float conditions, or None. Ignored when ``x``
            is a Dataset (its items carry the labels).
    """

    x: ArrayLike | Dataset[tuple[Any, Any]]
    y: ArrayLike | None = None

    def __len__(self) -> int:
        return len(self.x)  # type: ignore[arg-type]


@dataclass(frozen=True)
class DataBundle:
    """A loaded data set: both splits and their description."""

    train: Split
    test: Split
    info: DataInfo


class DataSource(ABC):
    """A data set named in a spec's ``data`` section.

    Parameter models must subclass :class:`DataParams` (binarisation, size limits, flattening are
    applied by genkit for every source). Loading must never reach the network unless the spec
    asks (``download: true``), and a missing file is a :class:`~genkit_core.errors.DataError`
    that says how to get it.

    A source that resolves a parameter while loading (a default it found not to apply)
    replaces ``self.params`` with what it used; genkit records that in the run's ``spec.yaml``.

    Args:
        params: the validated spec section.
    """

    kind: ClassVar[str] = "data"
    Params: ClassVar[type[BaseModel]] = DataParams

    def __init__(self, params: DataParams):
        self.params = params

    @abstractmethod
    def load(self) -> DataBundle:
        """Read both splits."""

    def describe(self) -> DataInfo:
        """The data's description without the cost of loading it all (default: load it)."""
        return self.load().info

    def __repr__(self) -> str:
        fields: dict[str, Any] = self.params.model_dump(exclude_defaults=True)
        return f"{type(self).__name__}({fields})"


@runtime_checkable
class GroundTruthData(Protocol):
    """Data whose examples are drawn from known discrete factors (dSprites, 3D shapes).

    What disentanglement metrics need besides the examples: the factors' names and sizes, a way
    to draw factor classes, and a way to draw examples with given classes (a data source that
    has its factors implements these; a metric receives it and an encoder's representation).
    The shape of disentanglement_lib's ``GroundTruthData``.

    Attributes:
        factor_names: the ``K`` factors that vary, e.g. ``("shape", "scale", ...)``.
        factor_sizes: how many classes each factor has, ``(K,)``.
    """

    @property
    def factor_names(self) -> tuple[str, ...]: ...

    @property
    def factor_sizes(self) -> tuple[int, ...]: ...

    def sample_factors(self, num: int, random_state: np.random.Generator) -> np.ndarray:
        """``(num, K)`` int factor classes, each factor drawn uniformly."""
        ...

    def sample_observations_from_factors(
        self, factors: np.ndarray, random_state: np.random.Generator
    ) -> ArrayLike:
        """``(num, *shape)`` examples with the ``(num, K)`` factor classes ``factors``."""
        ...
