"""The closed-form KL divergence, the classic VAE regulariser."""

from __future__ import annotations

from torch import Tensor
from torch.distributions import Distribution, Independent, kl_divergence

from genkit_core import Divergence

__all__ = ["GaussianKL"]


class GaussianKL(Divergence):
    r"""Closed-form :math:`\mathrm{KL}(q \,\|\, p)` through ``torch.distributions.kl_divergence``.

    For a diagonal Gaussian posterior against :math:`\mathcal N(0, I)` this is, per dimension,
    :math:`\tfrac12(\mu^2 + \sigma^2 - 2\log\sigma - 1)`; for other registered pairs it is
    whatever formula ``torch.distributions`` registers. Pairs with no closed form are refused
    when the model is built (use ``mc_kl``).
    """

    def per_dimension(self, q: Distribution, p: Distribution, z: Tensor) -> Tensor | None:
        independent = isinstance(q, Independent) and isinstance(p, Independent)
        if not independent or not q.reinterpreted_batch_ndims == p.reinterpreted_batch_ndims == 1:
            return None
        try:
            return kl_divergence(q.base_dist, p.base_dist)
        except NotImplementedError:
            return None

    def forward(self, q: Distribution, p: Distribution, z: Tensor) -> Tensor:
        per_dim = self.per_dimension(q, p, z)
        if per_dim is not None:
            return per_dim.sum(-1)
        try:
            return kl_divergence(q, p)
        except NotImplementedError:
            raise NotImplementedError(
                f"KL({_describe(q)} || {_describe(p)}) has no formula in "
                "torch.distributions (the mc_kl divergence estimates it)"
            ) from None


def _describe(d: Distribution) -> str:
    inner = getattr(d, "base_dist", None) or getattr(d, "component_distribution", None)
    return type(d).__name__ if inner is None else f"{type(d).__name__}({_describe(inner)})"
