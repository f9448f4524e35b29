"""MNIST, Fashion-MNIST and CIFAR-10 read by torchvision from its usual folders under ``root``.

Nothing is downloaded unless the spec says ``download: true``; a missing data set is a
:class:`~genkit_core.DataError` that says how to get it. The splits are returned as whole
``uint8`` arrays (the datasets' ``.data`` and ``.targets``), held on the device by genkit.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from pydantic import Field

from genkit_core import DataBundle, DataError, DataInfo, DataParams, DataSource, Split

from ._arrays import channels_first

__all__ = ["CIFAR10", "MNIST", "FashionMNIST", "TorchvisionParams"]

_MNIST_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


class TorchvisionParams(DataParams):
    """Where torchvision keeps the data set (relative to the current directory), and whether
    it may download it there when it is missing.
    """

    root: str = Field(
        "data",
        description="The folder torchvision keeps the data set in, relative to the current "
        "directory.",
    )
    download: bool = Field(
        False, description="Download the data set into root when it is missing there."
    )


class _TorchvisionData(DataSource):
    """One of torchvision's data sets: its class name, its description and its files."""

    Params = TorchvisionParams
    dataset: ClassVar[str]
    info: ClassVar[DataInfo]
    folder: ClassVar[str]
    files: ClassVar[tuple[str, ...]]

    def describe(self) -> DataInfo:
        return self.info

    def load(self) -> DataBundle:
        import torchvision.datasets  # imported here: torchvision is slow to import

        root, download = Path(self.params.root), self.params.download
        if not download:
            self._check_files(root)
        cls = getattr(torchvision.datasets, self.dataset)
        try:
            train, test = (cls(root, train=t, download=download) for t in (True, False))
        except (RuntimeError, ValueError, OSError, EOFError, pickle.UnpicklingError) as exc:
            raise DataError(
                f"data '{self.info.name}' in {root / self.folder} cannot be read "
                f"({type(exc).__name__}: {exc}); delete the folder and download it again "
                "(--set data.download=true)"
            ) from exc
        return DataBundle(self._split(train), self._split(test), self.info)

    def _check_files(self, root: Path) -> None:
        missing = [name for name in self.files if not (root / self.folder / name).is_file()]
        if missing:
            raise DataError(
                f"data '{self.info.name}' is not in {root / self.folder} (missing "
                f"{', '.join(missing)}; root is relative to the current directory); "
                "download it with --set data.download=true, or put torchvision's files there"
            )

    def _split(self, dataset: object) -> Split:
        x = torch.as_tensor(np.asarray(dataset.data))  # type: ignore[attr-defined]
        y = torch.as_tensor(np.asarray(dataset.targets), dtype=torch.int64)  # type: ignore[attr-defined]
        return Split(channels_first(x, "auto", f"data '{self.info.name}'").contiguous(), y)


class MNIST(_TorchvisionData):
    """LeCun's 70,000 28x28 grey handwritten digits (60,000 train, 10,000 test), 10 classes."""

    dataset = "MNIST"
    info = DataInfo((1, 28, 28), num_classes=10, name="mnist")
    folder = "MNIST/raw"
    files = _MNIST_FILES


class FashionMNIST(_TorchvisionData):
    """Zalando's 70,000 28x28 grey clothing images (60,000 train, 10,000 test), 10 classes."""

    dataset = "FashionMNIST"
    info = DataInfo((1, 28, 28), num_classes=10, name="fashion_mnist")
    folder = "FashionMNIST/raw"
    files = _MNIST_FILES


class CIFAR10(_TorchvisionData):
    """60,000 32x32 colour images (50,000 train, 10,000 test) of 10 classes."""

    dataset = "CIFAR10"
    info = DataInfo((3, 32, 32), num_classes=10, name="cifar10")
    folder = "cifar-10-batches-py"
    files = (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta")
