"""Bernoulli likelihood on logits: for binary data or intensities in [0, 1]."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from genkit_core import Likelihood, Params

__all__ = ["Bernoulli"]


class Bernoulli(Likelihood):
    r"""Independent Bernoulli pixels on logits :math:`\ell`.

    :math:`\log p(x|\ell) = \sum_i x_i \log \sigma(\ell_i) + (1 - x_i) \log(1 - \sigma(\ell_i))`.

    The decoder emits logits :math:`\ell`. This is a normalised log-probability for binary x;
    for grey values in [0, 1] it is the cross-entropy commonly used in their place (not a density).
    """

    Params = Params

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        logits = self.channels(params)[0]
        return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)

    def mean(self, params: Tensor) -> Tensor:
        return torch.sigmoid(self.channels(params)[0])

    def sample(self, params: Tensor) -> Tensor:
        return torch.bernoulli(self.mean(params))

    def support_error(self, x: Tensor) -> str | None:
        low, high = float(x.min()), float(x.max())
        if low < 0 or high > 1:
            return (
                "the bernoulli likelihood needs values in [0, 1], "
                f"and the data spans [{low:g}, {high:g}]"
            )
        return None
