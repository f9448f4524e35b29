"""A 256-way categorical likelihood per data element: the 8-bit softmax of PixelRNN."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Categorical

from genkit_core import Likelihood, Params

from .eight_bit import BINS, bin_index, unit_interval_error

__all__ = ["Categorical256"]


class Categorical256(Likelihood):
    r"""Independent :math:`\mathrm{Categorical}(\operatorname{softmax}(\ell_i))` over 256 values.

    Data in [0, 1] is read as the bin :math:`k_i = \operatorname{round}(255 x_i)` and
    :math:`\log p(x|\ell) = \sum_i \ell_{i,k_i} - \log \sum_{j=0}^{255} e^{\ell_{i,j}}`.
    The decoder emits 256 logits per data element (``num_params = 256``); the mean is
    :math:`\sum_k \tfrac{k}{255}\, \operatorname{softmax}(\ell_i)_k`.
    """

    Params = Params
    num_params = BINS

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        log_p = torch.log_softmax(params, dim=1)
        return log_p.gather(1, bin_index(x).unsqueeze(1)).flatten(1).sum(1)

    def mean(self, params: Tensor) -> Tensor:
        values = torch.arange(BINS, device=params.device, dtype=params.dtype) / (BINS - 1)
        probs = torch.softmax(params, dim=1)
        return torch.tensordot(probs.movedim(1, -1), values, dims=1)  # type: ignore[no-any-return]  # torch leaves it unannotated

    def sample(self, params: Tensor) -> Tensor:
        # torch leaves Categorical.sample unannotated
        draw: Tensor = Categorical(logits=params.movedim(1, -1), validate_args=False).sample()  # type: ignore[no-untyped-call]
        return draw.to(params.dtype) / (BINS - 1)

    def support_error(self, x: Tensor) -> str | None:
        return unit_interval_error(x, "categorical256")
