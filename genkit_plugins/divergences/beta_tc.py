"""The beta-TC-VAE decomposition of the KL (Chen et al., 2018), by minibatch-weighted sampling."""

from __future__ import annotations

import math
from typing import Annotated

import torch
from pydantic import Field
from torch import Tensor
from torch.distributions import Distribution, Independent, Normal

from genkit_core import DataInfo, Divergence, DivergenceParams, Penalty, SpecError

__all__ = ["BetaTC", "BetaTCParams", "mws_log_densities"]

Weight = Annotated[float, Field(ge=0, le=1e6)]


class BetaTCParams(DivergenceParams):
    """The weights of the three parts; ``beta`` weighs the total correlation."""

    alpha: Weight = Field(1.0, description="weight of the index-code mutual information")
    beta: Weight = Field(6.0, description="weight of the total correlation (the paper's beta)")
    gamma: Weight = Field(1.0, description="weight of the dimension-wise KL")


def mws_log_densities(q: Independent, z: Tensor, dataset_size: int) -> tuple[Tensor, Tensor]:
    r"""Minibatch-weighted estimates of :math:`\log q(z_i)` and :math:`\log q(z_{ij})`.

    With M the batch and N the data set's size,
    :math:`\log q(z_i) \approx \log \sum_{m} q(z_i | x_m) - \log(NM)`, and the same per
    dimension j for the marginals :math:`q(z_{ij})`.

    Returns:
        ``(M,)`` the aggregate posterior's log-density at each draw, and ``(M, L)`` the
        log-density of each of its marginals.
    """
    base: Normal = q.base_dist  # type: ignore[assignment]
    M = z.shape[0]
    pairs = Normal(base.loc.unsqueeze(0), base.scale.unsqueeze(0)).log_prob(z.unsqueeze(1))
    log_nm = math.log(dataset_size * M)
    joint = torch.logsumexp(pairs.sum(-1), dim=1) - log_nm  # (M,): pairs (i, m) summed over j
    marginals = torch.logsumexp(pairs, dim=1) - log_nm  # (M, L)
    return joint, marginals


class BetaTC(Divergence):
    r"""The KL split into three parts (Chen et al., 2018), each with its weight:

    .. math::
        \underbrace{\log q(z|x) - \log q(z)}_{\text{mutual information}}
        + \underbrace{\log q(z) - \textstyle\sum_j \log q(z_j)}_{\text{total correlation}}
        + \underbrace{\textstyle\sum_j \log q(z_j) - \log p(z)}_{\text{dimension-wise KL}}

    at the model's draw z, where :math:`q(z)` is the aggregate posterior, estimated over the
    minibatch with the data set's size N (minibatch-weighted sampling, read from the data, not
    the spec). The parts sum to :math:`\log q(z|x) - \log p(z)`, the Monte-Carlo KL, which is
    the reported value; the loss is
    :math:`w(t) \cdot \frac1B \sum_b (\alpha\, \mathrm{MI}_b + \beta\, \mathrm{TC}_b +
    \gamma\, \mathrm{DWKL}_b)` (annealing applies; free bits do not). Needs a diagonal
    Gaussian posterior; use K = 1 posterior samples (copies of an example would count as
    other examples in the estimate).
    """

    Params = BetaTCParams
    parts = ("mutual_information", "total_correlation", "dimension_kl")

    def __init__(self, params: BetaTCParams, data: DataInfo | None = None):
        super().__init__(params, data)
        if params.free_bits > 0:
            raise SpecError(
                "beta_tc weighs its three parts itself and takes no free_bits; remove it",
                field="free_bits",
            )

    def _parts(self, q: Distribution, p: Distribution, z: Tensor, log_q: Tensor) -> dict:
        if not (isinstance(q, Independent) and isinstance(q.base_dist, Normal)):
            raise SpecError(
                "beta_tc estimates the aggregate posterior from diagonal Gaussians; use "
                "posterior: {type: gaussian}",
                field="divergence.type",
            )
        n = (self.data.train_size if self.data is not None else None) or z.shape[0]
        log_qz, log_qzj = mws_log_densities(q, z, n)
        log_marginals = log_qzj.sum(-1)
        return {
            "mutual_information": log_q - log_qz,
            "total_correlation": log_qz - log_marginals,
            "dimension_kl": log_marginals - p.log_prob(z),
        }

    def forward(self, q: Distribution, p: Distribution, z: Tensor, log_q: Tensor) -> Tensor:
        return sum(self._parts(q, p, z, log_q).values())  # type: ignore[return-value]

    def penalty(
        self,
        q: Distribution,
        p: Distribution,
        z: Tensor,
        log_q: Tensor,
        step: Tensor | None = None,
    ) -> Penalty:
        parts = self._parts(q, p, z, log_q)
        value = parts["mutual_information"] + parts["total_correlation"] + parts["dimension_kl"]
        a, b, g = self.params.alpha, self.params.beta, self.params.gamma
        weighted = (
            a * parts["mutual_information"]
            + b * parts["total_correlation"]
            + g * parts["dimension_kl"]
        )
        return Penalty(value, self.annealing(step) * weighted.mean(), parts)
