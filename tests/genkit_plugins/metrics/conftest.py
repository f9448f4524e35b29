"""A tiny ground-truth data set for the metrics: every combination of a few discrete factors.

An observation is the vector of its factor classes itself, so a test picks the representation
and knows the answer: the factors as codes (disentangled), the same codes rotated (entangled),
codes that leave a factor out, or noise.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest


class ProductFactors:
    """Factors of the given sizes, each drawn uniformly; an observation is ``(K,)`` floats, the
    classes with a little noise (noiseless, a generic projection of the few combinations would
    tell them all apart on its own, and a tree would need no second code dimension)."""

    def __init__(self, sizes: tuple[int, ...]):
        self._sizes = sizes

    @property
    def factor_names(self) -> tuple[str, ...]:
        return tuple(f"f{k}" for k in range(len(self._sizes)))

    @property
    def factor_sizes(self) -> tuple[int, ...]:
        return self._sizes

    def sample_factors(self, num: int, random_state: np.random.Generator) -> np.ndarray:
        return np.stack([random_state.integers(s, size=num) for s in self._sizes], axis=1)

    def sample_observations_from_factors(
        self, factors: np.ndarray, random_state: np.random.Generator
    ) -> np.ndarray:
        return factors + random_state.normal(scale=0.2, size=factors.shape)


def _standardised(x: np.ndarray, sizes: tuple[int, ...]) -> np.ndarray:
    return (x - (np.array(sizes) - 1) / 2) / np.array(sizes)


@pytest.fixture
def data() -> ProductFactors:
    return ProductFactors((4, 5, 3))


@pytest.fixture
def codes(data: ProductFactors) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Representations with a known answer, by name."""
    sizes = data.factor_sizes
    helmert = np.array([[1, 1, 1], [1, -1, 0], [1, 1, -2]]).T  # every code mixes every factor
    rotation = helmert / np.linalg.norm(helmert, axis=0)
    noise = np.random.default_rng(8)
    return {
        "factors": lambda x: _standardised(x, sizes),
        "rotated": lambda x: _standardised(x, sizes) @ rotation,
        "one_ignored": lambda x: np.c_[
            _standardised(x, sizes)[:, 1:], noise.normal(size=len(x)) * 0.3
        ],
        "noise": lambda x: noise.normal(size=(len(x), 3)),
    }
