r"""Improved precision and recall of generated samples (Kynkäänniemi et al. 2019).

Each set's manifold is the union of balls around its points, each of radius the distance to
its point's ``k``-th nearest neighbour in the set:

.. math::

    \mathrm{precision} = \frac{1}{|G|} \sum_{g \in G}
        \mathbb{1}\bigl[\exists r \in R: \lVert g - r \rVert \le \rho_k(r, R)\bigr], \qquad
    \mathrm{recall} = \frac{1}{|R|} \sum_{r \in R}
        \mathbb{1}\bigl[\exists g \in G: \lVert r - g \rVert \le \rho_k(g, G)\bigr]

for real features R and generated features G: precision, the share of draws that look real;
recall, the share of real images the draws cover.

Example:
    >>> precision_recall(real_features, generated_features, k=3)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import numpy as np
import torch
from pydantic import BaseModel, Field
from torch import Tensor

from genkit_core import GenkitError, LatentVariableModel, MetricData, SpecError

from ._quality import QualityParams, SampleQualityMetric

__all__ = [
    "PrecisionRecall",
    "PrecisionRecallParams",
    "precision_recall",
    "precision_recall_of_each",
]

_ROWS = 1000
"""Rows of a distance matrix computed at a time: bounded memory for any n."""


def precision_recall(real: np.ndarray, generated: np.ndarray, k: int = 3) -> dict[str, float]:
    """Precision and recall of ``generated`` ``(M, F)`` against ``real`` ``(N, F)``.

    Raises:
        GenkitError: a set has ``k`` or fewer points (no ``k``-th neighbour), or the sets
            differ in F.
    """
    return precision_recall_of_each(real, [generated], k)[0]


def precision_recall_of_each(
    real: np.ndarray, sets: Sequence[np.ndarray], k: int = 3
) -> list[dict[str, float]]:
    """:func:`precision_recall` of each set against the same ``real`` features, whose radii
    are computed once.

    Raises:
        GenkitError: as :func:`precision_recall`.
    """
    r = _checked(real, real, k)
    real_radii = _radii(r, k)
    scores = []
    for generated in sets:
        g = _checked(generated, real, k)
        scores.append(
            {"precision": _covered(g, r, real_radii), "recall": _covered(r, g, _radii(g, k))}
        )
    return scores


def _checked(points: np.ndarray, real: np.ndarray, k: int) -> Tensor:
    """``points`` as float64, refused unless 2-D, more than ``k``, as wide as ``real``."""
    p = torch.as_tensor(np.asarray(points), dtype=torch.float64)
    r_shape = np.shape(real)
    if (
        p.dim() != 2
        or len(r_shape) != 2
        or p.shape[1] != r_shape[1]
        or min(len(p), r_shape[0]) <= k
    ):
        raise GenkitError(
            f"precision and recall need two sets of more than k={k} feature vectors of one "
            f"size, (N, F) and (M, F); got {tuple(r_shape)} and {tuple(p.shape)}"
        )
    return p


_ROUNDING = 1e-12
"""The relative error allowed in a squared distance from ``|a|^2 + |b|^2 - 2 a.b``: without
it, a copy of a point (a duplicate image) could land just outside the other's zero radius."""


def _squared_distances(a: Tensor, b: Tensor) -> Tensor:
    """``(len(a), len(b))`` squared Euclidean distances, less their possible rounding error
    (so that equal points are at 0).
    """
    norms = (a * a).sum(1, keepdim=True) + (b * b).sum(1)
    return (norms * (1 - _ROUNDING) - 2 * a @ b.T).clamp_(min=0)


def _radii(points: Tensor, k: int) -> Tensor:
    """Each point's squared distance to its ``k``-th nearest other point of the set."""
    return torch.cat([
        _squared_distances(rows, points).kthvalue(k + 1, dim=1).values  # +1: itself, at 0
        for rows in torch.split(points, _ROWS)
    ])  # fmt: skip


def _covered(queries: Tensor, points: Tensor, radii: Tensor) -> float:
    """The share of ``queries`` within some point's radius."""
    inside = [
        (_squared_distances(rows, points) <= radii).any(dim=1)
        for rows in torch.split(queries, _ROWS)
    ]
    return float(torch.cat(inside).double().mean())


class PrecisionRecallParams(QualityParams):
    """The images, the feature extractor and the neighbourhood size."""

    k: Annotated[int, Field(ge=1, le=100)] = Field(
        3, description="The neighbour whose distance is each point's radius (the paper's k)."
    )


class PrecisionRecall(SampleQualityMetric):
    """Improved precision and recall (Kynkäänniemi et al. 2019) of the model's draws against
    test images, in a feature extractor's space, with their floors.

    ``precision``: the share of ``n`` draws from the prior inside the test images' manifold
    (the balls reaching each test image's ``k``-th nearest neighbour); ``recall``: the share of
    ``n`` test images inside the draws' manifold. ``precision_floor`` and ``recall_floor``: the
    same of ``n`` training images (what reproducing the data scores). Both in [0, 1], higher
    is better.
    """

    Params = PrecisionRecallParams
    params: PrecisionRecallParams
    scores = ("precision", "recall", "precision_floor", "recall_floor")

    def __init__(self, params: BaseModel):
        super().__init__(params)
        if self.params.n <= self.params.k:
            raise SpecError(
                f"{self.params.n} images cannot give each one k={self.params.k} neighbours; "
                f"raise n above k",
                field="n",
            )

    def __call__(
        self, model: LatentVariableModel, data: MetricData, random_state: np.random.Generator
    ) -> dict[str, float]:
        sets = self.sample_sets(model, data, random_state)
        k = self.params.k
        model_scores, floor = precision_recall_of_each(sets.test, [sets.generated, sets.train], k)
        return {**model_scores, "precision_floor": floor["precision"],
                "recall_floor": floor["recall"]}  # fmt: skip
