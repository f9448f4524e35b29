"""MNIST for the benchmarks: the Keras mnist.npz, or random images of its shape for smoke runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

KEYS = ("x_train", "y_train", "x_test", "y_test")
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.npz"


def load_mnist(path: Path, limit: int | None = None) -> dict[str, np.ndarray]:
    """The four arrays of an mnist.npz; ``limit`` keeps the first N training images."""
    with np.load(path) as f:
        arrays = {k: f[k] for k in KEYS}
    if limit:
        arrays["x_train"], arrays["y_train"] = arrays["x_train"][:limit], arrays["y_train"][:limit]
    return arrays


def synthetic(n_train: int, n_test: int) -> dict[str, np.ndarray]:
    """Random uint8 28x28 images and labels: smoke runs need the shapes, not the digits."""
    rng = np.random.default_rng(0)
    return {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
