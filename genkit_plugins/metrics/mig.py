r"""The mutual information gap (Chen et al. 2018), as disentanglement_lib computes it.

.. math::

    \mathrm{MIG} = \frac{1}{K} \sum_k \frac{I(z_{j^{(k)}}; v_k) - \max_{j \ne j^{(k)}} I(z_j; v_k)}
    {H(v_k)}, \qquad j^{(k)} = \arg\max_j I(z_j; v_k)

over the ``K`` factors ``v_k``, each code dimension ``z_j`` discretised into 20 equal-width bins
and the mutual information that of the discrete contingency table. 1 means each factor is
captured by one dimension alone; 0 that no dimension is more informative than the next.

Example:
    >>> mig(data, lambda x: encoder_mean(x), np.random.default_rng(0))["discrete_mig"]
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from pydantic import Field

from genkit_core import GroundTruthData, MetricParams

from ._sampling import (
    Count,
    FactorMetric,
    Representation,
    discrete_entropy,
    discrete_mutual_info,
    factor_codes,
    histogram_discretize,
    need_two_dimensions,
)

__all__ = ["MIG", "MIGParams", "mig"]


def mig(
    data: GroundTruthData,
    representation: Representation,
    random_state: np.random.Generator,
    num_train: int = 10_000,
    batch_size: int = 16,
    num_bins: int = 20,
) -> dict[str, float]:
    """The MIG of ``representation`` on ``num_train`` draws of ``data``.

    Args:
        data: the ground-truth data (its factors and a way to draw examples of them).
        representation: observations ``(B, *shape)`` to codes ``(B, D)``; needs ``D >= 2``.
        random_state: the draws' generator.
        num_train: how many (code, factor) pairs the mutual information is estimated from.
        batch_size: how many observations are represented at a time.
        num_bins: the histogram bins each code dimension is discretised into.

    Returns:
        ``{"discrete_mig": ...}``, in [0, 1].
    """
    codes, factors = factor_codes(data, representation, num_train, random_state, batch_size)
    need_two_dimensions(codes, "MIG")
    info = discrete_mutual_info(histogram_discretize(codes, num_bins), factors)  # (D, K)
    top = np.sort(info, axis=0)[::-1]
    return {"discrete_mig": float(np.mean((top[0] - top[1]) / discrete_entropy(factors)))}


class MIGParams(MetricParams):
    """disentanglement_lib's defaults."""

    num_train: Count = Field(
        10_000, description="How many (code, factor) pairs the mutual information comes from."
    )
    batch_size: Count = Field(16, description="How many observations are encoded at a time.")
    num_bins: Annotated[int, Field(ge=2, le=10_000)] = Field(
        20, description="The equal-width bins each code dimension is discretised into."
    )


class MIG(FactorMetric):
    r"""The mutual information gap (Chen et al. 2018) of the model's posterior means, as
    disentanglement_lib computes it: per factor, the gap between the code dimension that tells
    the most about it and the next, over the factor's entropy, averaged over factors (in
    [0, 1]; each dimension discretised into ``num_bins`` bins). Needs data with factors
    (``data: {type: dsprites}``).
    """

    Params = MIGParams
    params: MIGParams
    function = staticmethod(mig)
    scores = ("discrete_mig",)
