"""scikit-learn's bundled 8x8 handwritten digits: real images with no download."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
from pydantic import Field

from genkit_core import DataBundle, DataInfo, DataParams, DataSource, Split

__all__ = ["Digits", "DigitsParams"]

_INFO = DataInfo(shape=(1, 8, 8), num_classes=10, name="digits")


class DigitsParams(DataParams):
    """The held-out fraction and the seed of the (deterministic) train/test split."""

    test_fraction: Annotated[float, Field(gt=0, lt=1)] = Field(
        0.2, description="The fraction of the 1,797 images held out as the test split."
    )
    split_seed: Annotated[int, Field(ge=0, lt=2**32)] = Field(
        0, description="The seed of the shuffle that splits train from test."
    )


class Digits(DataSource):
    """scikit-learn's 1,797 8x8 digit images in [0, 1], 10 classes, shuffled split by a seed."""

    Params = DigitsParams
    params: DigitsParams  # the validated section, narrowed from the interface

    def describe(self) -> DataInfo:
        return _INFO

    def load(self) -> DataBundle:
        images, labels = _digits()
        x = torch.from_numpy((images / 16.0).astype(np.float32)).view(-1, *_INFO.shape)
        y = torch.from_numpy(labels.astype(np.int64))
        order = torch.from_numpy(np.random.default_rng(self.params.split_seed).permutation(len(x)))
        n_test = round(len(x) * self.params.test_fraction)
        test, train = order[:n_test], order[n_test:]
        return DataBundle(Split(x[train], y[train]), Split(x[test], y[test]), _INFO)


def _digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 flattened images (values 0 to 16) and their labels, as ``load_digits`` gives.

    Read straight from the file scikit-learn ships (``datasets/data/digits.csv.gz``, each row
    64 values and the label): importing scikit-learn takes seconds, longer than the README's
    example spends on its first epochs. Where the file is not there, ``load_digits`` reads it.
    """
    spec = importlib.util.find_spec("sklearn")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file():
            data = np.loadtxt(path, delimiter=",")
            return data[:, :-1], data[:, -1].astype(int)
    from sklearn.datasets import load_digits

    return load_digits(return_X_y=True)  # type: ignore[no-any-return]  # sklearn has no types
