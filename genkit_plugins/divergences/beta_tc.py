"""The beta-TC-VAE decomposition of the KL (Chen et al., 2018), by minibatch-weighted sampling."""

from __future__ import annotations

import math
from typing import Annotated, Literal, cast

import torch
from pydantic import Field
from torch import Tensor
from torch.distributions import Distribution, Independent, Normal

from genkit_core import DataInfo, Divergence, DivergenceParams, Penalty, SpecError

__all__ = ["BetaTC", "BetaTCParams", "log_weights", "mws_log_densities"]

Weight = Annotated[float, Field(ge=0, le=1e6)]


class BetaTCParams(DivergenceParams):
    """The weights of the three parts; ``beta`` weighs the total correlation."""

    alpha: Weight = Field(1.0, description="weight of the index-code mutual information")
    beta: Weight = Field(6.0, description="weight of the total correlation (the paper's beta)")
    gamma: Weight = Field(1.0, description="weight of the dimension-wise KL")
    estimator: Literal["mws", "mss"] = Field(
        "mws",
        description="How the aggregate posterior is estimated over the minibatch: mws "
        "(minibatch-weighted sampling) or mss (minibatch-stratified sampling, the paper's "
        "appendix C.2; less biased, the authors' --mss).",
    )


def log_weights(m: int, dataset_size: int, estimator: str, device: torch.device) -> Tensor:
    r"""``(M, M)`` log-weights :math:`\log w_{im}` of :math:`q(z_i) \approx \sum_m w_{im}
    q(z_i | x_m)` for a batch of M of a data set of N.

    ``mws``: every :math:`w_{im} = 1/(NM)`. ``mss`` (stratified, Chen et al. 2018, appendix
    C.2, as in the authors' code): :math:`w_{ii} = 1/N`, :math:`w_{i,i+1} = (N - M + 1)/(N(M -
    1))` for the next example (cyclically), and :math:`1/(M-1)` for the other M - 2; each row
    sums to 1, so when every posterior is the same the estimate is exact.
    """
    n = dataset_size
    if estimator == "mws" or m < 2:
        return torch.full((m, m), -math.log(n * m), device=device)
    weights = torch.full((m, m), 1.0 / (m - 1), device=device, dtype=torch.float64)
    rows = torch.arange(m, device=device)
    weights[rows, (rows + 1) % m] = (n - m + 1) / (n * (m - 1))
    weights[rows, rows] = 1.0 / n
    return weights.log().float()


def mws_log_densities(
    q: Independent[Normal], z: Tensor, dataset_size: int, estimator: str = "mws"
) -> tuple[Tensor, Tensor]:
    r"""Minibatch estimates of :math:`\log q(z_i)` and :math:`\log q(z_{ij})`.

    With M the batch and N the data set's size,
    :math:`\log q(z_i) \approx \log \sum_{m} w_{im}\, q(z_i | x_m)` with the weights of
    :func:`log_weights` (``mws``: :math:`\log \sum_m q(z_i | x_m) - \log(NM)`), and the same
    per dimension j for the marginals :math:`q(z_{ij})`.

    Returns:
        ``(M,)`` the aggregate posterior's log-density at each draw, and ``(M, L)`` the
        log-density of each of its marginals.
    """
    base = q.base_dist
    M = z.shape[0]
    # torch leaves Normal.log_prob unannotated
    pairs: Tensor = Normal(base.loc.unsqueeze(0), base.scale.unsqueeze(0)).log_prob(z.unsqueeze(1))  # type: ignore[no-untyped-call]
    log_w = log_weights(M, dataset_size, estimator, z.device).to(pairs.dtype)  # (i, m)
    joint = torch.logsumexp(pairs.sum(-1) + log_w, dim=1)  # (M,): pairs (i, m) summed over j
    marginals = torch.logsumexp(pairs + log_w.unsqueeze(-1), dim=1)  # (M, L)
    return joint, marginals


class BetaTC(Divergence):
    r"""The KL split into three parts (Chen et al., 2018), each with its weight:

    .. math::
        \underbrace{\log q(z|x) - \log q(z)}_{\text{mutual information}}
        + \underbrace{\log q(z) - \textstyle\sum_j \log q(z_j)}_{\text{total correlation}}
        + \underbrace{\textstyle\sum_j \log q(z_j) - \log p(z)}_{\text{dimension-wise KL}}

    at the model's draw z, where :math:`q(z)` is the aggregate posterior, estimated over the
    minibatch with the data set's size N (read from the data, not the spec), by
    minibatch-weighted sampling (``estimator: mws``) or minibatch-stratified sampling
    (``mss``). The parts sum to :math:`\log q(z|x) - \log p(z)`, the Monte-Carlo KL, which is
    the reported value; the loss is
    :math:`w(t) \cdot \frac1B \sum_b (\alpha\, \mathrm{MI}_b + \beta\, \mathrm{TC}_b +
    \gamma\, \mathrm{DWKL}_b)` (annealing applies; free bits do not). Needs a diagonal
    Gaussian posterior; use K = 1 posterior samples (copies of an example would count as
    other examples in the estimate).
    """

    Params = BetaTCParams
    params: BetaTCParams  # the validated section, narrowed from the interface
    parts = ("mutual_information", "total_correlation", "dimension_kl")

    def __init__(self, params: BetaTCParams, data: DataInfo | None = None):
        super().__init__(params, data)
        if params.free_bits > 0:
            raise SpecError(
                "beta_tc weighs its three parts itself and takes no free_bits; remove it",
                field="free_bits",
            )

    def _parts(
        self, q: Distribution, p: Distribution, z: Tensor, log_q: Tensor
    ) -> dict[str, Tensor]:
        if not (isinstance(q, Independent) and isinstance(q.base_dist, Normal)):
            raise SpecError(
                "beta_tc estimates the aggregate posterior from diagonal Gaussians; use "
                "posterior: {type: gaussian}",
                field="divergence.type",
            )
        n = (self.data.train_size if self.data is not None else None) or z.shape[0]
        log_qz, log_qzj = mws_log_densities(q, z, n, self.params.estimator)
        log_marginals = log_qzj.sum(-1)
        return {
            "mutual_information": log_q - log_qz,
            "total_correlation": log_qz - log_marginals,
            "dimension_kl": log_marginals - p.log_prob(z),
        }

    def forward(self, q: Distribution, p: Distribution, z: Tensor, log_q: Tensor) -> Tensor:
        return cast(Tensor, sum(self._parts(q, p, z, log_q).values()))  # sum starts from int 0

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
