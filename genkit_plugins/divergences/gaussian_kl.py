"""The KL divergence, the classic VAE regulariser: closed form where there is one."""

from __future__ import annotations

from typing import Literal, cast

from pydantic import Field
from torch import Tensor
from torch.distributions import Distribution, Independent

from genkit_core import Divergence, DivergenceParams
from genkit_core.kl import Estimator, closed_form_kl, has_closed_form, kl_estimate

__all__ = ["GaussianKL", "KLParams"]


class KLParams(DivergenceParams):
    """How the KL is computed."""

    estimator: Literal["auto", "analytic", "monte_carlo"] = Field(
        "auto",
        description=(
            "analytic: the closed form of torch.distributions; monte_carlo: log q(z|x) - log p(z) "
            "at the model's sample; auto: analytic where the posterior and prior have a closed "
            "form, else monte_carlo (the resolved spec records which)"
        ),
    )


class GaussianKL(Divergence):
    r""":math:`\mathrm{KL}(q(z|x) \,\|\, p(z))`, in closed form where ``torch.distributions``
    has one, else the unbiased one-sample estimate :math:`\log q(z|x) - \log p(z)`.

    For a diagonal Gaussian posterior against :math:`\mathcal N(0, I)` the closed form is, per
    dimension, :math:`\tfrac12(\mu^2 + \sigma^2 - 2\log\sigma - 1)`. With ``estimator: auto``
    (the default) any prior works: a mixture or VampPrior, a flow posterior, a hierarchy get the
    Monte-Carlo estimate, and the model's resolved spec says which was used.
    """

    Params = KLParams
    params: KLParams  # the validated section, narrowed from the interface

    def _resolve(self, q: Distribution, p: Distribution) -> Estimator:
        """The estimator for this pair; an ``auto`` spec is resolved once, on first use."""
        estimator: Estimator = self.params.estimator
        if estimator == "auto":
            estimator = "analytic" if has_closed_form(q, p) else "monte_carlo"
            self.params = self.params.model_copy(update={"estimator": estimator})
        return estimator

    def per_dimension(
        self, q: Distribution, p: Distribution, z: Tensor, log_q: Tensor
    ) -> Tensor | None:
        if self._resolve(q, p) == "monte_carlo":
            return _monte_carlo_per_dimension(q, p, z)
        try:
            return closed_form_kl(q, p, per_dimension=True)
        except NotImplementedError:
            return None

    def forward(self, q: Distribution, p: Distribution, z: Tensor, log_q: Tensor) -> Tensor:
        return kl_estimate(q, p, z, log_q, self._resolve(q, p))


def _monte_carlo_per_dimension(q: Distribution, p: Distribution, z: Tensor) -> Tensor | None:
    """``log q(z_j|x) - log p(z_j)`` per dimension ``(B, L)`` when both factorise, else None."""
    if not all(isinstance(d, Independent) and d.reinterpreted_batch_ndims == 1 for d in (q, p)):
        return None
    q_base = cast("Independent[Distribution]", q).base_dist  # both checked above
    p_base = cast("Independent[Distribution]", p).base_dist
    return q_base.log_prob(z) - p_base.log_prob(z)
