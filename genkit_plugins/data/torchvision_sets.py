"""MNIST, Fashion-MNIST and CIFAR-10 read by torchvision from its usual folders under ``root``.

Nothing is downloaded unless the spec says ``download: true``; a missing data set is a
:class:`~genkit_core.DataError` that says how to get it. A download that fails (no network)
is one such error too, and leaves no empty or partial folder behind. The splits are returned
as whole ``uint8`` arrays (the datasets' ``.data`` and ``.targets``), held on the device by genkit.
"""

from __future__ import annotations

import contextlib
import pickle
import shutil
import sys
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
_FAILURES = (RuntimeError, ValueError, OSError, EOFError, pickle.UnpicklingError)


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
    params: TorchvisionParams  # the validated section, narrowed from the interface
    dataset: ClassVar[str]
    info: ClassVar[DataInfo]
    folder: ClassVar[str]
    files: ClassVar[tuple[str, ...]]

    def describe(self) -> DataInfo:
        return self.info

    def load(self) -> DataBundle:
        import torchvision.datasets  # imported here: torchvision is slow to import

        root, download = Path(self.params.root), self.params.download
        where = root / self.folder
        missing = self._missing(root)
        if missing and not download:
            raise DataError(
                f"data '{self.info.name}' is not in {where} (missing {', '.join(missing)}; root "
                "is relative to the current directory); download it with "
                "--set data.download=true, or put torchvision's files there"
            )
        cls = getattr(torchvision.datasets, self.dataset)
        if missing:
            return self._download(cls, root)
        try:
            train, test = (cls(root, train=t, download=False) for t in (True, False))
        except _FAILURES as exc:
            again = (
                "run again (download: true fetches it anew)"
                if download
                else ("download it again (--set data.download=true)")
            )
            raise DataError(
                f"data '{self.info.name}' in {where} cannot be read ({_summary(exc)}); delete "
                f"the folder and {again}"
            ) from exc
        return DataBundle(self._split(train), self._split(test), self.info)

    def _download(self, cls: type, root: Path) -> DataBundle:
        """Download and read the data set; on failure remove what the attempt wrote."""
        watched = [root, *(root.joinpath(*p) for p in _prefixes(Path(self.folder).parts))]
        before = {e for d in watched if d.is_dir() for e in [d, *d.iterdir()]}
        try:
            with contextlib.redirect_stdout(sys.stderr):  # torchvision prints its progress
                train, test = (cls(root, train=t, download=True) for t in (True, False))
        except _FAILURES as exc:
            _remove_new(watched, before)
            raise DataError(
                f"data '{self.info.name}' could not be downloaded into {root / self.folder} "
                f"({_summary(exc)}); check the network connection, or copy torchvision's files "
                f"({', '.join(self.files)}) there from a machine that has them"
            ) from exc
        return DataBundle(self._split(train), self._split(test), self.info)

    def _missing(self, root: Path) -> list[str]:
        return [name for name in self.files if not (root / self.folder / name).is_file()]

    def _split(self, dataset: object) -> Split:
        x = torch.as_tensor(np.asarray(dataset.data))  # type: ignore[attr-defined]
        y = torch.as_tensor(np.asarray(dataset.targets), dtype=torch.int64)  # type: ignore[attr-defined]
        return Split(channels_first(x, "auto", f"data '{self.info.name}'").contiguous(), y)


def _prefixes(parts: tuple[str, ...]) -> list[tuple[str, ...]]:
    """``("MNIST", "raw")`` -> ``[("MNIST",), ("MNIST", "raw")]``."""
    return [tuple(parts[:i]) for i in range(1, len(parts) + 1)]


def _remove_new(watched: list[Path], before: set[Path]) -> None:
    """Remove the entries of ``watched`` folders (and those folders) not in ``before``."""
    for folder in reversed(watched):
        if not folder.is_dir():
            continue
        for entry in list(folder.iterdir()):
            if entry in before:
                continue
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink(missing_ok=True)
        if folder not in before and not any(folder.iterdir()):
            folder.rmdir()


def _summary(exc: BaseException) -> str:
    """An exception in one line: torchvision's download errors span several."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if len(lines) < 2 else f"{lines[0]} {lines[-1]}"
    return f"{type(exc).__name__}: {text}"


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
