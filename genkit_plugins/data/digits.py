"""scikit-learn's bundled 8x8 handwritten digits: real images with no download."""

from __future__ import annotations

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

    def describe(self) -> DataInfo:
        return _INFO

    def load(self) -> DataBundle:
        from sklearn.datasets import load_digits  # imported here: scikit-learn is slow to import

        images, labels = load_digits(return_X_y=True)
        x = torch.from_numpy((images / 16.0).astype(np.float32)).view(-1, *_INFO.shape)
        y = torch.from_numpy(labels.astype(np.int64))
        order = torch.from_numpy(np.random.default_rng(self.params.split_seed).permutation(len(x)))
        n_test = round(len(x) * self.params.test_fraction)
        test, train = order[:n_test], order[n_test:]
        return DataBundle(Split(x[train], y[train]), Split(x[test], y[test]), _INFO)
