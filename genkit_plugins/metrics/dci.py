r"""DCI: disentanglement, completeness and informativeness (Eastwood and Williams 2018), as
disentanglement_lib computes it.

For each factor ``k`` a gradient-boosted tree classifier (sklearn's ``GradientBoostingClassifier``
with its defaults) predicts the factor from the codes; its feature importances form column
``k`` of the ``(D, K)`` importance matrix ``R``. With ``P_jk = R_jk / sum_k R_jk``:

.. math::

    D = \sum_j \rho_j \,(1 - H_K(P_{j\cdot})),
    \quad \rho_j = \frac{\sum_k R_{jk}}{\sum_{jk} R_{jk}};
    \qquad C = \sum_k \rho_k \,(1 - H_D(\tilde P_{\cdot k}))

(``H_K`` the entropy in base ``K``, ``\tilde P`` normalised over codes, ``\rho_k`` the factor's
share). Informativeness is the classifiers' mean accuracy, on the training and the test draws.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from genkit_core import GroundTruthData, MetricParams

from ._sampling import Count, FactorMetric, Representation, factor_codes

__all__ = ["DCI", "DCIParams", "completeness", "dci", "disentanglement", "importance_matrix"]


def dci(
    data: GroundTruthData,
    representation: Representation,
    random_state: np.random.Generator,
    num_train: int = 10_000,
    num_test: int = 5_000,
    batch_size: int = 16,
) -> dict[str, float]:
    """The DCI scores of ``representation`` on ``data``.

    Args:
        data: the ground-truth data.
        representation: observations ``(B, *shape)`` to codes ``(B, D)``.
        random_state: the draws' generator (also seeds the trees).
        num_train: the draws the classifiers are fitted on.
        num_test: the draws informativeness is also measured on.
        batch_size: how many observations are represented at a time.

    Returns:
        ``disentanglement``, ``completeness``, ``informativeness_train`` and
        ``informativeness_test`` (accuracies), each in [0, 1].
    """
    train = factor_codes(data, representation, num_train, random_state, batch_size)
    test = factor_codes(data, representation, num_test, random_state, batch_size)
    seed = int(random_state.integers(2**31))
    matrix, train_acc, test_acc = importance_matrix(*train, *test, seed=seed)
    return {
        "disentanglement": disentanglement(matrix),
        "completeness": completeness(matrix),
        "informativeness_train": train_acc,
        "informativeness_test": test_acc,
    }


def importance_matrix(
    codes: np.ndarray,
    factors: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    seed: int = 0,
) -> tuple[np.ndarray, float, float]:
    """The ``(D, K)`` importance matrix, and the classifiers' mean train and test accuracy."""
    # imported when used: sklearn takes a second to import
    from sklearn.ensemble import GradientBoostingClassifier

    matrix = np.zeros((codes.shape[1], factors.shape[1]))
    train_acc, test_acc = [], []
    for k in range(factors.shape[1]):
        model = GradientBoostingClassifier(random_state=seed).fit(codes, factors[:, k])
        matrix[:, k] = np.abs(model.feature_importances_)
        train_acc.append(np.mean(model.predict(codes) == factors[:, k]))
        test_acc.append(np.mean(model.predict(codes_test) == factors_test[:, k]))
    return matrix, float(np.mean(train_acc)), float(np.mean(test_acc))


def disentanglement(matrix: np.ndarray) -> float:
    """``D``: each code's 1 - entropy (base K) over factors, weighted by its share."""
    per_code = 1.0 - _entropy(matrix + 1e-11, axis=1)
    weights = matrix if matrix.sum() > 0 else np.ones_like(matrix)
    return float(np.sum(per_code * weights.sum(axis=1) / weights.sum()))


def completeness(matrix: np.ndarray) -> float:
    """``C``: each factor's 1 - entropy (base D) over codes, weighted by its share."""
    per_factor = 1.0 - _entropy(matrix + 1e-11, axis=0)
    weights = matrix if matrix.sum() > 0 else np.ones_like(matrix)
    return float(np.sum(per_factor * weights.sum(axis=0) / weights.sum()))


def _entropy(weights: np.ndarray, axis: int) -> np.ndarray:
    """The entropy of ``weights`` normalised along ``axis``, in base ``weights.shape[axis]``
    (``scipy.stats.entropy(..., base=...)``, which disentanglement_lib uses).
    """
    p = weights / weights.sum(axis=axis, keepdims=True)
    return -(p * np.log(p)).sum(axis=axis) / np.log(weights.shape[axis])  # type: ignore[no-any-return]


class DCIParams(MetricParams):
    """disentanglement_lib's defaults."""

    num_train: Count = Field(
        10_000, description="The draws the gradient-boosted trees are fitted on."
    )
    num_test: Count = Field(5_000, description="The draws informativeness is also measured on.")
    batch_size: Count = Field(16, description="How many observations are encoded at a time.")


class DCI(FactorMetric):
    r"""Disentanglement, completeness and informativeness (Eastwood and Williams 2018) of the
    model's posterior means, as disentanglement_lib computes them: from the feature
    importances of one gradient-boosted tree classifier per factor (sklearn's defaults), each
    in [0, 1]. Needs data with factors (``data: {type: dsprites}``).
    """

    Params = DCIParams
    params: DCIParams
    function = staticmethod(dci)
    scores = ("disentanglement", "completeness", "informativeness_train", "informativeness_test")
