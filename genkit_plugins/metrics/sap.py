r"""The separated attribute predictability score (Kumar et al. 2018), as disentanglement_lib
computes it with ``continuous_factors=False``.

For each code dimension ``j`` and factor ``k`` a linear SVM (``LinearSVC(C=0.01,
class_weight="balanced")``) predicts ``k`` from ``z_j`` alone; its accuracy on fresh draws is
``S_jk``. SAP is the mean over factors of the gap between the best and the second-best
dimension: 1 - 0 when one dimension alone predicts each factor, 0 when two do equally well.
With ``continuous_factors=True`` ``S_jk`` is the squared correlation of ``z_j`` and ``v_k``.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from genkit_core import GroundTruthData, MetricParams

from ._sampling import Count, FactorMetric, Representation, factor_codes, need_two_dimensions

__all__ = ["SAP", "SAPParams", "sap", "score_matrix"]


def sap(
    data: GroundTruthData,
    representation: Representation,
    random_state: np.random.Generator,
    num_train: int = 10_000,
    num_test: int = 5_000,
    batch_size: int = 16,
    continuous_factors: bool = False,
) -> dict[str, float]:
    """The SAP score of ``representation`` on ``data``.

    Args:
        data: the ground-truth data.
        representation: observations ``(B, *shape)`` to codes ``(B, D)``; needs ``D >= 2``.
        random_state: the draws' generator.
        num_train: the draws each classifier is fitted on.
        num_test: the draws it is scored on.
        batch_size: how many observations are represented at a time.
        continuous_factors: score by squared correlation instead of classification.

    Returns:
        ``{"sap_score": ...}``, in [0, 1].
    """
    codes, factors = factor_codes(data, representation, num_train, random_state, batch_size)
    need_two_dimensions(codes, "SAP")
    test = factor_codes(data, representation, num_test, random_state, batch_size)
    top = np.sort(score_matrix(codes, factors, *test, continuous_factors), axis=0)
    return {"sap_score": float(np.mean(top[-1] - top[-2]))}


def score_matrix(
    codes: np.ndarray,
    factors: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    continuous_factors: bool = False,
) -> np.ndarray:
    """``(D, K)``: how well code dimension j alone predicts factor k."""
    # imported when used: sklearn takes a second to import
    from sklearn.svm import LinearSVC

    matrix = np.zeros((codes.shape[1], factors.shape[1]))
    for j in range(codes.shape[1]):
        for k in range(factors.shape[1]):
            if continuous_factors:
                cov = np.cov(codes[:, j], factors[:, k], ddof=1)
                matrix[j, k] = cov[0, 1] ** 2 / (cov[0, 0] * cov[1, 1]) if cov[0, 0] > 1e-12 else 0
            else:
                svm = LinearSVC(C=0.01, class_weight="balanced").fit(
                    codes[:, j : j + 1], factors[:, k]
                )
                matrix[j, k] = np.mean(svm.predict(codes_test[:, j : j + 1]) == factors_test[:, k])
    return matrix


class SAPParams(MetricParams):
    """disentanglement_lib's defaults."""

    num_train: Count = Field(10_000, description="The draws each classifier is fitted on.")
    num_test: Count = Field(5_000, description="The draws each classifier is scored on.")
    batch_size: Count = Field(16, description="How many observations are encoded at a time.")
    continuous_factors: bool = Field(
        False,
        description="Score each (dimension, factor) pair by squared correlation instead of a "
        "linear SVM's accuracy.",
    )


class SAP(FactorMetric):
    r"""The separated attribute predictability score (Kumar et al. 2018) of the model's
    posterior means, as disentanglement_lib computes it: per factor, how much better the best
    single code dimension predicts it than the second best (a linear SVM, ``C = 0.01``),
    averaged over factors (in [0, 1]). Needs data with factors (``data: {type: dsprites}``).
    """

    Params = SAPParams
    params: SAPParams
    function = staticmethod(sap)
    scores = ("sap_score",)
