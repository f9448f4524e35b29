"""The Monte-Carlo KL estimate: any posterior against any prior that has a log-density."""

from __future__ import annotations

from torch import Tensor
from torch.distributions import Distribution, Independent

from genkit_core import Divergence

__all__ = ["MonteCarloKL"]


class MonteCarloKL(Divergence):
    r"""The one-sample estimate :math:`\widehat{\mathrm{KL}} = \log q(z|x) - \log p(z)` at the
    reparameterised sample :math:`z \sim q(z|x)` the model drew.

    Unbiased for :math:`\mathrm{KL}(q \,\|\, p)`, so reconstruction plus this term is a
    one-sample ELBO estimate; it needs no closed form, which is what mixture and VampPriors
    lack. When q and p both factorise over latent dimensions (``Independent`` of rank 1) the
    estimate is returned per dimension too, so free bits apply.
    """

    def per_dimension(self, q: Distribution, p: Distribution, z: Tensor) -> Tensor | None:
        if not (_factorises(q) and _factorises(p)):
            return None
        return q.base_dist.log_prob(z) - p.base_dist.log_prob(z)  # type: ignore[attr-defined]

    def forward(self, q: Distribution, p: Distribution, z: Tensor) -> Tensor:
        return q.log_prob(z) - p.log_prob(z)


def _factorises(d: Distribution) -> bool:
    return isinstance(d, Independent) and d.reinterpreted_batch_ndims == 1
