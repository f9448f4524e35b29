"""``FactorImages``: a tiny data source with ground-truth factors, for testing metrics."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import torch
from pydantic import Field

from ..interfaces import DataBundle, DataInfo, DataParams, DataSource, Split

__all__ = ["FactorImages", "FactorImagesParams"]


class FactorImagesParams(DataParams):
    """How many noisy copies of each combination of factors each split holds."""

    copies: Annotated[int, Field(gt=0, le=1000)] = Field(
        8,
        description="Images per combination of factors in the training split (a quarter "
        "of them, at least one, in the test split).",
    )


class FactorImages(DataSource):
    """(1, 8, 8) images of two known factors: the row (4 classes) and the column (3 classes)
    of a bright 2x2 patch on faint noise. A :class:`~genkit_core.GroundTruthData`, so metrics
    that read true factors can be tested in a second; register it in a test to train on it::

        registry.add(Component("factor_images", FactorImages))
    """

    Params = FactorImagesParams
    params: FactorImagesParams
    factor_names = ("row", "column")
    factor_sizes = (4, 3)

    def describe(self) -> DataInfo:
        return DataInfo(shape=(1, 8, 8), name="factor_images")

    def load(self) -> DataBundle:
        rng = np.random.default_rng(0)
        grid = np.stack(np.meshgrid(*map(np.arange, self.factor_sizes), indexing="ij"), -1)
        grid = grid.reshape(-1, len(self.factor_sizes))
        copies = self.params.copies
        train = self.sample_observations_from_factors(np.repeat(grid, copies, axis=0), rng)
        test = self.sample_observations_from_factors(
            np.repeat(grid, max(1, copies // 4), axis=0), rng
        )
        return DataBundle(Split(torch.from_numpy(train)), Split(torch.from_numpy(test)),
                          self.describe())  # fmt: skip

    def sample_factors(self, num: int, random_state: np.random.Generator) -> np.ndarray:
        """``(num, 2)`` classes, each uniform."""
        return np.stack([random_state.integers(s, size=num) for s in self.factor_sizes], axis=1)

    def sample_observations_from_factors(
        self, factors: np.ndarray, random_state: np.random.Generator
    ) -> np.ndarray:
        """``(num, 1, 8, 8)`` float32 images of these classes."""
        images = random_state.uniform(0, 0.1, size=(len(factors), 1, 8, 8)).astype(np.float32)
        for i, (row, column) in enumerate(np.asarray(factors)):
            images[i, 0, 2 * row : 2 * row + 2, 2 * column : 2 * column + 2] = 1.0
        return images
