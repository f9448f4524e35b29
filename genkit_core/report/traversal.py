r"""Latent traversals: one latent dimension varied, the others held fixed.

The others are held at the code of one test image (its posterior mean), so each row starts from
a real example. Dimension u takes ``steps`` values evenly spaced between the 2nd and 98th
percentiles of :math:`z_u` over the test codes: the range the model actually uses, which for a
VAE is about :math:`\pm 2` and for an AE whatever scale its codes took.

Which dimensions: all of them when :math:`L \le 16`; otherwise the 16 whose posterior means
vary most over the test set (the most active units, see ``genkit eval``), in index order.

When the data has ground-truth factors (dSprites), :func:`tracked_factors` names the factor each
dimension tracks: the one sharing the most mutual information with it (the dimension's code cut
into 20 equal-width bins, as MIG does), as a fraction of the factor's entropy.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .view import RunView

__all__ = ["MAX_ROWS", "chosen_dimensions", "tracked_factors", "traversal_values", "traverse"]

MAX_ROWS = 16
"""At most this many dimensions are traversed (one row each)."""


def chosen_dimensions(codes: Tensor, max_rows: int = MAX_ROWS) -> list[int]:
    """Every dimension of ``(N, L)`` codes when L <= max_rows, else the max_rows of largest
    variance, sorted by index.
    """
    if codes.shape[1] <= max_rows:
        return list(range(codes.shape[1]))
    variance = codes.double().var(dim=0) if len(codes) > 1 else torch.zeros(codes.shape[1])
    return sorted(variance.topk(max_rows).indices.tolist())


def traversal_values(codes: Tensor, dims: list[int], steps: int) -> Tensor:
    """``(len(dims), steps)`` values from the 2nd to the 98th percentile of each dimension."""
    q = torch.tensor([0.02, 0.98], dtype=torch.float64, device=codes.device)
    low, high = torch.quantile(codes[:, dims].double(), q, dim=0).unbind()
    t = torch.linspace(0, 1, steps, dtype=torch.float64, device=codes.device)
    return (low[:, None] + t[None, :] * (high - low)[:, None]).to(codes.dtype)


@torch.no_grad()
def traverse(
    view: RunView, codes: Tensor, base: int = 0, steps: int = 9
) -> tuple[Tensor, list[int], Tensor]:
    """Decoded traversals around test example ``base``.

    Args:
        view: the run.
        codes: ``(N, L)`` the test codes (posterior means).
        base: the test example whose code holds the other dimensions.
        steps: values per dimension.

    Returns:
        ``(D, steps, *shape)`` decoded images, the D dimensions, and their values ``(D, steps)``.
    """
    dims = chosen_dimensions(codes)
    values = traversal_values(codes, dims, steps)
    z = codes[base].repeat(len(dims), steps, 1)
    for row, u in enumerate(dims):
        z[row, :, u] = values[row]
    y = (
        None
        if view.test_y is None
        else view.test_y[base : base + 1].expand(z.shape[0] * steps, *view.test_y.shape[1:])
    )
    decoded = view.decode_mean(z.flatten(0, 1), y)
    return decoded.view(len(dims), steps, *decoded.shape[1:]), dims, values


def tracked_factors(
    codes: np.ndarray, factors: np.ndarray, names: tuple[str, ...], num_bins: int = 20
) -> list[tuple[str, float]]:
    """The factor each code dimension tracks, and how much of it: ``I(z_j; v_k) / H(v_k)``.

    Args:
        codes: ``(N, D)`` codes (posterior means) of examples drawn by their factors.
        factors: ``(N, K)`` those examples' factor classes (non-negative integers).
        names: the ``K`` factors' names.
        num_bins: the equal-width bins each dimension is cut into.

    Returns:
        Per dimension, the name of the factor of largest normalised mutual information and that
        fraction, in [0, 1] (0 for a dimension that does not vary or is not finite, named after
        factor 0).
    """
    n = len(codes)
    info = np.zeros((codes.shape[1], factors.shape[1]))
    for j in range(codes.shape[1]):
        if not np.isfinite(codes[:, j]).all():
            continue  # a diverged model's code tracks nothing measurable
        edges = np.histogram(codes[:, j], num_bins)[1][1:-1]
        binned = np.digitize(codes[:, j], edges)
        for k in range(factors.shape[1]):
            joint = np.zeros((num_bins, int(factors[:, k].max()) + 1))
            np.add.at(joint, (binned, factors[:, k]), 1.0)
            joint /= n
            outer = joint.sum(axis=1, keepdims=True) * joint.sum(axis=0, keepdims=True)
            seen = joint > 0
            info[j, k] = float((joint[seen] * np.log(joint[seen] / outer[seen])).sum())
    entropy = np.zeros(factors.shape[1])
    for k in range(factors.shape[1]):
        p = np.bincount(factors[:, k]) / n
        entropy[k] = float(-(p[p > 0] * np.log(p[p > 0])).sum())
    share = np.clip(info / np.maximum(entropy, 1e-12), 0.0, 1.0)
    best = share.argmax(axis=1)
    return [(names[k], float(share[j, k])) for j, k in enumerate(best)]
