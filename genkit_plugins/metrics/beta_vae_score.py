r"""The beta-VAE score (Higgins et al. 2017) as disentanglement_lib computes it (beta_vae_sklearn).

Each point fixes one factor ``k`` (drawn uniformly) between two batches of ``batch_size`` draws
and takes the mean absolute difference of their codes, ``mean_b |z(x_b) - z(x'_b)|`` (a
``(D,)`` vector), labelled ``k``. A logistic regression (sklearn's defaults) learns ``k`` from
``num_train`` such points; the score is its accuracy on ``num_eval`` fresh ones. 1 means the
fixed factor can always be read off a linear function of the differences.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from genkit_core import GroundTruthData, MetricParams

from ._sampling import Count, FactorMetric, Representation, represent

__all__ = ["BetaVAEScore", "BetaVAEScoreParams", "beta_vae_score"]


def beta_vae_score(
    data: GroundTruthData,
    representation: Representation,
    random_state: np.random.Generator,
    batch_size: int = 64,
    num_train: int = 10_000,
    num_eval: int = 5_000,
) -> dict[str, float]:
    """The beta-VAE score of ``representation`` on ``data``.

    Args:
        data: the ground-truth data.
        representation: observations ``(B, *shape)`` to codes ``(B, D)``.
        random_state: the draws' generator (also seeds the logistic regression).
        batch_size: the pairs averaged into each point.
        num_train: the points the classifier is fitted on.
        num_eval: the points it is scored on.

    Returns:
        ``train_accuracy`` and ``eval_accuracy`` (the score).
    """
    # imported when used: sklearn takes a second to import
    from sklearn.linear_model import LogisticRegression

    x_train, y_train = _points(data, representation, random_state, batch_size, num_train)
    seed = int(random_state.integers(2**31))
    model = LogisticRegression(random_state=seed).fit(x_train, y_train)
    x_eval, y_eval = _points(data, representation, random_state, batch_size, num_eval)
    return {
        "train_accuracy": float(np.mean(model.predict(x_train) == y_train)),
        "eval_accuracy": float(np.mean(model.predict(x_eval) == y_eval)),
    }


def _points(
    data: GroundTruthData,
    representation: Representation,
    random_state: np.random.Generator,
    batch_size: int,
    num_points: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``(num_points, D)`` mean absolute code differences and ``(num_points,)`` fixed factors."""
    points, labels = [], np.zeros(num_points, dtype=np.int64)
    for i in range(num_points):
        k = int(random_state.integers(len(data.factor_sizes)))
        first = data.sample_factors(batch_size, random_state)
        second = data.sample_factors(batch_size, random_state)
        second[:, k] = first[:, k]
        codes = [
            represent(representation, data.sample_observations_from_factors(f, random_state))
            for f in (first, second)
        ]
        points.append(np.mean(np.abs(codes[0] - codes[1]), axis=0))
        labels[i] = k
    return np.stack(points), labels


class BetaVAEScoreParams(MetricParams):
    """disentanglement_lib's defaults."""

    batch_size: Count = Field(
        64, description="The pairs of draws averaged into each point (one factor fixed)."
    )
    num_train: Count = Field(10_000, description="The points the logistic regression is fitted on.")
    num_eval: Count = Field(5_000, description="The points it is scored on.")


class BetaVAEScore(FactorMetric):
    r"""The beta-VAE score (Higgins et al. 2017) of the model's posterior means, as
    disentanglement_lib computes it: the accuracy with which a logistic regression tells,
    from the mean absolute code difference of pairs that share one factor, which factor they
    share (in [0, 1]). Needs data with factors (``data: {type: dsprites}``).
    """

    Params = BetaVAEScoreParams
    params: BetaVAEScoreParams
    function = staticmethod(beta_vae_score)
    scores = ("train_accuracy", "eval_accuracy")
