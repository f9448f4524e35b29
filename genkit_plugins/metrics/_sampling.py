"""What the metrics share: drawing (code, factor) pairs, discretising codes, discrete MI."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Annotated, Any, ClassVar

import numpy as np
from pydantic import Field

from genkit_core import GenkitError, GroundTruthData, LatentVariableModel, Metric, MetricData

__all__ = [
    "Count",
    "FactorMetric",
    "Representation",
    "discrete_entropy",
    "discrete_mutual_info",
    "factor_codes",
    "histogram_discretize",
    "need_two_dimensions",
    "represent",
]

Count = Annotated[int, Field(gt=0, le=10_000_000)]
"""A sample count of a metric's parameters."""

Representation = Callable[[Any], Any]
"""Observations ``(B, *shape)`` to codes ``(B, D)`` (a NumPy array or a tensor), e.g. the mean of
an encoder's posterior."""


class FactorMetric(Metric):
    """A disentanglement_lib metric: ``function(factors, representation, random_state,
    **options)`` of the data's ground truth and the model's posterior means, its options the
    fields of its ``Params`` (less ``seed``, which seeds ``random_state``).
    """

    needs_factors = True
    function: ClassVar[Callable[..., dict[str, float]]]

    def __call__(
        self, model: LatentVariableModel, data: MetricData, random_state: np.random.Generator
    ) -> dict[str, float]:
        assert data.factors is not None  # needs_factors: genkit gives only data with factors
        options = self.params.model_dump(exclude={"type", "seed"})
        codes = partial(self.codes, model)
        return type(self).function(data.factors, codes, random_state, **options)


def represent(representation: Representation, observations: Any) -> np.ndarray:
    """The codes of ``observations`` as a ``(B, D)`` float64 array.

    Raises:
        GenkitError: the representation returned another number of codes, or non-finite ones.
    """
    codes = representation(observations)
    if hasattr(codes, "detach"):
        codes = codes.detach().cpu().numpy()
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim == 0 or len(codes) != len(observations):
        raise GenkitError(
            f"the representation returned codes of shape {codes.shape} for "
            f"{len(observations)} observations; it must return one code per observation, (B, D)"
        )
    if not np.isfinite(codes).all():
        raise GenkitError(
            "the representation returned non-finite codes (NaN or inf); check the model"
        )
    return codes.reshape(len(codes), -1)


def need_two_dimensions(codes: np.ndarray, metric: str) -> None:
    """Refuse codes of one dimension: ``metric`` compares the best dimension with the next.

    Raises:
        GenkitError: the codes have fewer than two dimensions.
    """
    if codes.shape[1] < 2:
        raise GenkitError(
            f"{metric} compares each factor's best code dimension with the second best, and "
            f"the representation has {codes.shape[1]}; it needs at least 2"
        )


def factor_codes(
    data: GroundTruthData,
    representation: Representation,
    num_points: int,
    random_state: np.random.Generator,
    batch_size: int = 16,
) -> tuple[np.ndarray, np.ndarray]:
    """``num_points`` codes ``(N, D)`` and the factor classes ``(N, K)`` they were drawn from.

    Drawn ``batch_size`` at a time: factors uniformly, then an observation of them.
    """
    codes, factors = [], []
    for start in range(0, num_points, batch_size):
        drawn = data.sample_factors(min(batch_size, num_points - start), random_state)
        observations = data.sample_observations_from_factors(drawn, random_state)
        codes.append(represent(representation, observations))
        factors.append(drawn)
    return np.concatenate(codes), np.concatenate(factors)


def histogram_discretize(codes: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """``(N, D)`` codes as ``(N, D)`` bin indices, each dimension cut into ``num_bins`` equal bins
    between its minimum and maximum (``np.histogram``'s edges, ``np.digitize``: 1 to ``num_bins``).
    """
    out = np.zeros(codes.shape, dtype=np.int64)
    for j in range(codes.shape[1]):
        edges = np.histogram(codes[:, j], num_bins)[1][:-1]
        out[:, j] = np.digitize(codes[:, j], edges)
    return out


def discrete_mutual_info(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """``(D, K)``: I(code_i; factor_j) in nats, from discrete ``(N, D)`` codes and ``(N, K)``
    factors (sklearn's ``mutual_info_score`` of the contingency table).
    """
    # imported when used: sklearn takes a second to import
    from sklearn.metrics import mutual_info_score

    return np.array(
        [
            [mutual_info_score(factors[:, j], codes[:, i]) for j in range(factors.shape[1])]
            for i in range(codes.shape[1])
        ]
    ).reshape(codes.shape[1], factors.shape[1])


def discrete_entropy(factors: np.ndarray) -> np.ndarray:
    """``(K,)``: H(factor_j) in nats, as I(factor_j; factor_j)."""
    # imported when used: sklearn takes a second to import
    from sklearn.metrics import mutual_info_score

    return np.array([mutual_info_score(f, f) for f in factors.T])
