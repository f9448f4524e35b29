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

import numpy as np

from genkit_core import GroundTruthData

from ._sampling import (
    Representation,
    discrete_entropy,
    discrete_mutual_info,
    factor_codes,
    histogram_discretize,
    need_two_dimensions,
)

__all__ = ["mig"]


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
