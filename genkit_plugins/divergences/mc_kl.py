"""The Monte-Carlo KL estimate: any posterior against any prior that has a log-density."""

from __future__ import annotations

from torch import Tensor
from torch.distributions import Distribution

from genkit_core import Divergence

from .gaussian_kl import _monte_carlo_per_dimension

__all__ = ["MonteCarloKL"]


class MonteCarloKL(Divergence):
    r"""The one-sample estimate :math:`\widehat{\mathrm{KL}} = \log q(z|x) - \log p(z)` at the
    reparameterised sample :math:`z \sim q(z|x)` the model drew.

    Unbiased for :math:`\mathrm{KL}(q \,\|\, p)`, so reconstruction plus this term is a
    one-sample ELBO estimate; it needs no closed form. ``gaussian_kl`` falls back to it by
    itself where there is none; this name forces it even where there is. When q and p both
    factorise over latent dimensions (``Independent`` of rank 1) the estimate is returned per
    dimension too, so free bits apply.
    """

    def per_dimension(
        self, q: Distribution, p: Distribution, z: Tensor, log_q: Tensor
    ) -> Tensor | None:
        return _monte_carlo_per_dimension(q, p, z)

    def forward(self, q: Distribution, p: Distribution, z: Tensor, log_q: Tensor) -> Tensor:
        return log_q - p.log_prob(z)
