"""mc_kl: an unbiased estimate of the closed-form KL, per dimension when both sides factorise."""

from __future__ import annotations

import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

from genkit_core import DivergenceParams
from genkit_plugins.divergences.gaussian_kl import GaussianKL, KLParams
from genkit_plugins.divergences.mc_kl import MonteCarloKL


def _diag(mu: torch.Tensor, sigma: torch.Tensor) -> Independent:
    return Independent(Normal(mu, sigma), 1)


def test_converges_to_the_closed_form_within_its_standard_error():
    torch.manual_seed(3)
    mu, sigma = torch.randn(3, 4).double(), (torch.rand(3, 4) + 0.3).double()
    q = _diag(mu, sigma)
    p = _diag(torch.tensor([0.5, 0, -1, 0]).double(), torch.tensor([1.0, 2, 0.5, 1]).double())
    n = 20_000
    z = q.sample((n,))  # (n, 3, 4)
    estimates = MonteCarloKL(DivergenceParams())(q, p, z, q.log_prob(z))
    exact = GaussianKL(KLParams(estimator="analytic"))(q, p, mu, q.log_prob(mu))
    error = estimates.std(0) / n**0.5
    assert torch.all((estimates.mean(0) - exact).abs() < 4 * error)


def test_per_dimension_sums_to_the_estimate_and_needs_factorised_sides():
    q = _diag(torch.randn(5, 3), torch.rand(5, 3) + 0.2)
    p = _diag(torch.zeros(3), torch.ones(3))
    z = q.rsample()
    log_q = q.log_prob(z)
    mc = MonteCarloKL(DivergenceParams())
    per_dim = mc.per_dimension(q, p, z, log_q)
    assert per_dim.shape == (5, 3)
    assert torch.allclose(per_dim.sum(-1), mc(q, p, z, log_q), atol=1e-5)
    mixture = MixtureSameFamily(
        Categorical(logits=torch.zeros(2)), _diag(torch.randn(2, 3), torch.ones(2, 3))
    )
    assert mc.per_dimension(q, mixture, z, log_q) is None
    assert torch.allclose(mc(q, mixture, z, log_q), log_q - mixture.log_prob(z))


def test_it_uses_the_posteriors_own_log_density_at_the_draw():
    """A flow's log q at its draw needs no inverse: the divergence takes it as given."""
    q = _diag(torch.randn(4, 3), torch.rand(4, 3) + 0.2)
    p = _diag(torch.zeros(3), torch.ones(3))
    z, given = q.rsample(), torch.full((4,), -1.5)
    assert torch.allclose(MonteCarloKL(DivergenceParams())(q, p, z, given), given - p.log_prob(z))
