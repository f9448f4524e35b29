r"""The FactorVAE score (Kim and Mnih 2018), as disentanglement_lib computes it.

Each vote fixes one factor ``k`` (drawn uniformly) across a batch of ``batch_size`` draws,
divides each code dimension's variance in the batch by its variance over the data, and votes
``(k, argmin_j)``; dimensions whose standard deviation over the data is below
``prune_threshold`` (collapsed to the prior) take no part. The classifier maps each dimension to
the factor it got most votes for; the score is its accuracy on ``num_eval`` fresh votes. 1 means
fixing a factor always leaves one dimension, its own, the least varied.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import Field

from genkit_core import GroundTruthData, MetricParams

from ._sampling import Count, FactorMetric, Representation, represent

__all__ = ["FactorVAEScore", "FactorVAEScoreParams", "factor_vae_score"]


def factor_vae_score(
    data: GroundTruthData,
    representation: Representation,
    random_state: np.random.Generator,
    batch_size: int = 64,
    num_train: int = 10_000,
    num_eval: int = 5_000,
    num_variance_estimate: int = 10_000,
    prune_threshold: float = 0.05,
) -> dict[str, float]:
    """The FactorVAE score of ``representation`` on ``data``.

    Args:
        data: the ground-truth data.
        representation: observations ``(B, *shape)`` to codes ``(B, D)``.
        random_state: the draws' generator.
        batch_size: the draws per vote, one factor fixed among them.
        num_train: the votes the majority-vote classifier is fitted on.
        num_eval: the votes it is scored on.
        num_variance_estimate: the draws each dimension's variance over the data comes from.
        prune_threshold: dimensions whose standard deviation is below this take no part.

    Returns:
        ``train_accuracy``, ``eval_accuracy`` (the score) and ``num_active_dims``.
    """
    factors = data.sample_factors(num_variance_estimate, random_state)
    codes = represent(representation, data.sample_observations_from_factors(factors, random_state))
    variances = np.var(codes, axis=0, ddof=1)
    active = np.sqrt(variances) >= prune_threshold
    if not active.any():
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0.0}
    args = (data, representation, random_state, batch_size, variances, active)
    train = _votes(*args, num_train)
    classifier = np.argmax(train, axis=0)  # each dimension's majority factor
    columns = np.arange(train.shape[1])
    eval_votes = _votes(*args, num_eval)
    return {
        "train_accuracy": float(train[classifier, columns].sum() / train.sum()),
        "eval_accuracy": float(eval_votes[classifier, columns].sum() / eval_votes.sum()),
        "num_active_dims": float(active.sum()),
    }


def _votes(
    data: GroundTruthData,
    representation: Representation,
    random_state: np.random.Generator,
    batch_size: int,
    variances: np.ndarray,
    active: np.ndarray,
    num_points: int,
) -> np.ndarray:
    """``(K, D)`` vote counts: how often fixing factor k left dimension j the least varied.

    Dimension j counts among the active dimensions only (as disentanglement_lib's argmin
    over ``active_dims``, whose index it keeps).
    """
    votes = np.zeros((len(data.factor_sizes), int(active.sum())), dtype=np.int64)
    for _ in range(num_points):
        k = int(random_state.integers(len(data.factor_sizes)))
        factors = data.sample_factors(batch_size, random_state)
        factors[:, k] = factors[0, k]
        observations = data.sample_observations_from_factors(factors, random_state)
        local = np.var(represent(representation, observations), axis=0, ddof=1)
        votes[k, np.argmin(local[active] / variances[active])] += 1
    return votes


class FactorVAEScoreParams(MetricParams):
    """disentanglement_lib's defaults."""

    batch_size: Count = Field(64, description="The draws per vote, one factor fixed among them.")
    num_train: Count = Field(
        10_000, description="The votes the majority-vote classifier is fitted on."
    )
    num_eval: Count = Field(5_000, description="The votes it is scored on.")
    num_variance_estimate: Count = Field(
        10_000, description="The draws each dimension's variance over the data comes from."
    )
    prune_threshold: Annotated[float, Field(ge=0)] = Field(
        0.05,
        description="Code dimensions whose standard deviation over the data is below this "
        "(collapsed to the prior) take no part.",
    )


class FactorVAEScore(FactorMetric):
    r"""The FactorVAE score (Kim and Mnih 2018) of the model's posterior means, as
    disentanglement_lib computes it: fixing one factor in a batch, the code dimension whose
    variance (over its variance on the data) drops most votes for that factor; the score is
    the accuracy of the majority-vote classifier (in [0, 1]). Needs data with factors
    (``data: {type: dsprites}``).
    """

    Params = FactorVAEScoreParams
    params: FactorVAEScoreParams
    function = staticmethod(factor_vae_score)
    scores = ("train_accuracy", "eval_accuracy", "num_active_dims")
