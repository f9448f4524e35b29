"""mnist, fashion_mnist, cifar10: tiny files in torchvision's layout, and never a download."""

from __future__ import annotations

import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from genkit_core import DataError
from genkit_core.testing import check_component
from genkit_plugins.data.torchvision_sets import (
    CIFAR10,
    MNIST,
    FashionMNIST,
    TorchvisionParams,
)

RNG = np.random.default_rng(0)


def _idx(path: Path, values: np.ndarray) -> None:
    """An IDX file (LeCun's format): magic 0x08 (ubyte) and the number of dims, sizes, bytes."""
    header = struct.pack(">HBB", 0, 8, values.ndim) + struct.pack(f">{values.ndim}I", *values.shape)
    path.write_bytes(header + values.astype(np.uint8).tobytes())


def write_mnist(root: Path, folder: str = "MNIST", n_train: int = 6, n_test: int = 3) -> dict:
    """Tiny MNIST files where torchvision reads them: ``root/<folder>/raw/*-ubyte``."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        arrays[f"{prefix}-images"] = RNG.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        arrays[f"{prefix}-labels"] = RNG.integers(0, 10, n, dtype=np.uint8)
        _idx(raw / f"{prefix}-images-idx3-ubyte", arrays[f"{prefix}-images"])
        _idx(raw / f"{prefix}-labels-idx1-ubyte", arrays[f"{prefix}-labels"])
    return arrays


def write_cifar10(root: Path, n: int = 2) -> np.ndarray:
    """Tiny CIFAR-10 batches (pickled dicts of (n, 3072) uint8 rows in CHW order)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    images = RNG.integers(0, 256, (6, n, 3 * 32 * 32), dtype=np.uint8)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name, rows in zip(names, images, strict=True):
        with open(folder / name, "wb") as f:
            pickle.dump({"data": rows, "labels": list(range(n))}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [str(i) for i in range(10)]}, f)
    return images


@pytest.mark.parametrize(("cls", "folder"), [(MNIST, "MNIST"), (FashionMNIST, "FashionMNIST")])
def test_mnist_files_load_as_uint8_images_and_labels(tmp_path, cls, folder):
    arrays = write_mnist(tmp_path, folder)
    bundle = cls(TorchvisionParams(root=str(tmp_path))).load()
    assert bundle.info == cls.info and bundle.info.shape == (1, 28, 28)
    assert bundle.train.x.dtype == torch.uint8 and bundle.train.x.shape == (6, 1, 28, 28)
    assert np.array_equal(bundle.test.x[:, 0].numpy(), arrays["t10k-images"])
    assert np.array_equal(bundle.train.y.numpy(), arrays["train-labels"])


def test_cifar10_batches_load_channels_first(tmp_path, monkeypatch):
    import torchvision.datasets.cifar as cifar

    # the real files' checksums cannot match tiny ones: check only that they exist
    monkeypatch.setattr(cifar, "check_integrity", lambda path, md5=None: os.path.isfile(path))
    images = write_cifar10(tmp_path)
    bundle = CIFAR10(TorchvisionParams(root=str(tmp_path))).load()
    assert bundle.train.x.shape == (10, 3, 32, 32) and bundle.test.x.shape == (2, 3, 32, 32)
    assert np.array_equal(bundle.test.x.reshape(2, -1).numpy(), images[5])
    assert bundle.train.y.tolist() == [0, 1] * 5


@pytest.mark.parametrize(
    ("cls", "missing"),
    [(MNIST, "MNIST/raw"), (FashionMNIST, "FashionMNIST/raw"), (CIFAR10, "cifar-10-batches-py")],
)
def test_a_missing_data_set_says_how_to_get_it_without_downloading(tmp_path, cls, missing):
    with pytest.raises(DataError, match=rf"not in .*{missing} .*--set data.download=true"):
        cls(TorchvisionParams(root=str(tmp_path))).load()


def test_a_corrupt_file_is_a_data_error(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "MNIST/raw/train-images-idx3-ubyte").write_bytes(b"\0\0\x08\x03")
    with pytest.raises(DataError, match=r"MNIST.raw cannot be read .*download it again"):
        MNIST(TorchvisionParams(root=str(tmp_path))).load()


@pytest.mark.parametrize(("cls", "folder"), [(MNIST, "MNIST"), (FashionMNIST, "FashionMNIST")])
def test_keeps_the_data_source_contract(tmp_path, cls, folder):
    write_mnist(tmp_path, folder)
    assert check_component(cls, {"root": str(tmp_path)}).describe() == cls.info


@pytest.fixture
def offline(monkeypatch) -> None:
    """Every mirror refuses the connection at once (the discard port on this machine), as a
    machine without a network does; no test reaches the network."""
    import torchvision.datasets

    for cls in (torchvision.datasets.MNIST, torchvision.datasets.FashionMNIST):
        monkeypatch.setattr(cls, "mirrors", ["http://127.0.0.1:9/"])


def test_an_offline_download_says_so_and_leaves_nothing_behind(tmp_path, offline, capsys):
    # the original report: an empty data/MNIST/raw, and advice to set download: true, which was
    root = tmp_path / "data"
    with pytest.raises(DataError) as info:
        MNIST(TorchvisionParams(root=str(root), download=True)).load()
    message = str(info.value)
    assert message.startswith(f"data 'mnist' could not be downloaded into {root / 'MNIST/raw'} ")
    assert "Connection refused" in message and "check the network connection" in message
    assert "download=true" not in message and "\\n" not in message
    assert not root.exists()
    assert capsys.readouterr().out == ""  # torchvision's progress goes to stderr


def test_a_failed_download_keeps_what_was_there(tmp_path, offline):
    (tmp_path / "FashionMNIST").mkdir()
    (tmp_path / "FashionMNIST" / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="could not be downloaded"):
        FashionMNIST(TorchvisionParams(root=str(tmp_path), download=True)).load()
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["FashionMNIST", "notes.txt"]


def test_a_corrupt_file_with_download_on_is_not_told_to_turn_it_on(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "MNIST/raw/train-images-idx3-ubyte").write_bytes(b"\0\0\x08\x03")
    with pytest.raises(DataError, match=r"cannot be read .*delete the folder and run again"):
        MNIST(TorchvisionParams(root=str(tmp_path), download=True)).load()
