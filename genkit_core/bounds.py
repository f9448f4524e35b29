r"""The bounds on :math:`\log p(x)` that objectives and evaluation share.

For K draws :math:`z_k \sim q(z|x)` the log importance weights are
:math:`\log w_k = \log p(x|z_k) + \log p(z_k) - \log q(z_k|x)`; their mean is a K-sample ELBO
and :math:`\log \frac1K \sum_k w_k` is the importance-weighted bound of Burda et al. (2015),
which equals the ELBO at K = 1, is never below the K-sample ELBO, and tightens as K grows.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

from .model import LatentVariableModel

__all__ = ["ImportanceTerms", "importance_terms", "iw_bound"]


class ImportanceTerms(NamedTuple):
    """The three parts of the log importance weights, each ``(K, B)`` in nats."""

    log_px: Tensor
    log_pz: Tensor
    log_q: Tensor

    @property
    def log_w(self) -> Tensor:
        r""":math:`\log w = \log p(x|z) + \log p(z) - \log q(z|x)`, ``(K, B)``."""
        return self.log_px + self.log_pz - self.log_q


def importance_terms(
    model: LatentVariableModel, x: Tensor, y: Tensor | None, noise: Tensor
) -> ImportanceTerms:
    """Draw K latents per example with ``noise`` ``(K, B, *noise_shape)`` and weigh them.

    Raises:
        TypeError: the model has no density to weigh with (a point-mass posterior or no prior).
    """
    if not model.is_variational or model.prior is None:
        raise TypeError("importance weights need a stochastic posterior and a prior")
    draw = model.posterior.sample(model.posterior_of(x, y), noise)
    log_px = model.log_likelihood(x, draw.z, y)
    return ImportanceTerms(log_px, model.prior.log_prob(draw.z), draw.log_q)


def iw_bound(log_w: Tensor) -> Tensor:
    r""":math:`\log \frac1K \sum_k w_k` per example ``(B,)`` from ``(K, B)`` log weights."""
    return torch.logsumexp(log_w, dim=0) - math.log(log_w.shape[0])
