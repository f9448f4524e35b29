"""gaussian_kl against its formula and a Monte-Carlo estimate."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Independent, Normal

from genkit_plugins.divergences.gaussian_kl import GaussianKL, KLParams


def _q(mu: torch.Tensor, sigma: torch.Tensor) -> Independent:
    return Independent(Normal(mu, sigma), 1)


class _Calls:
    """``GaussianKL()(q, p, z)`` with ``log_q`` at z: what the model passes."""

    def __init__(self, **params):
        self.kl = GaussianKL(KLParams(**params))

    def __call__(self, q, p, z):
        return self.kl(q, p, z, q.log_prob(z))


def _kl(**params) -> _Calls:
    return _Calls(**params)


def _standard(latent: int) -> Independent:
    return _q(torch.zeros(latent), torch.ones(latent))


def test_matches_the_closed_form_formula():
    mu, sigma = torch.randn(7, 5), torch.rand(7, 5) + 0.1
    kl = _kl()(_q(mu, sigma), _standard(5), mu)
    formula = 0.5 * (mu**2 + sigma**2 - 2 * sigma.log() - 1).sum(-1)
    assert torch.allclose(kl, formula, atol=1e-6)


def test_matches_a_monte_carlo_estimate():
    torch.manual_seed(1)
    mu, sigma = torch.randn(3, 4), torch.rand(3, 4) + 0.3
    q, p = _q(mu, sigma), _standard(4)
    z = q.sample((200_000,))
    monte_carlo = (q.log_prob(z) - p.log_prob(z)).mean(0)
    kl = _kl()(q, p, mu)
    assert torch.allclose(kl, monte_carlo, atol=0.02)


def test_uses_the_registered_formula_for_other_gaussian_priors():
    mu, sigma = torch.randn(4, 3), torch.rand(4, 3) + 0.2
    p = _q(torch.tensor([1.0, -2.0, 0.5]), torch.tensor([0.5, 2.0, 1.0]))
    expected = torch.distributions.kl_divergence(_q(mu, sigma), p)
    assert torch.allclose(_kl()(_q(mu, sigma), p, mu), expected)


@pytest.mark.parametrize("beta", [0.0, 0.5, 4.0])
def test_beta_scales_the_penalty_but_not_the_reported_value(beta):
    mu, sigma = torch.randn(6, 3), torch.rand(6, 3) + 0.2
    kl = GaussianKL(KLParams(beta=beta))
    value, penalty, _ = kl.penalty(_q(mu, sigma), _standard(3), mu, torch.zeros(6))
    assert torch.allclose(value, kl(_q(mu, sigma), _standard(3), mu, torch.zeros(6)))
    assert torch.allclose(penalty, beta * value.mean())


def test_a_weight_of_one_adds_no_product_to_the_graph():
    """A plain KL's penalty is the batch mean itself: no multiplication by 1.0 every step."""
    mu = torch.randn(6, 3, requires_grad=True)
    kl = GaussianKL(KLParams())
    value, penalty, _ = kl.penalty(_q(mu, torch.ones(6, 3)), _standard(3), mu, torch.zeros(6))
    assert type(penalty.grad_fn).__name__ == "MeanBackward0"
    assert torch.equal(penalty, value.mean())


def test_auto_settles_on_the_closed_form_and_says_so():
    kl = GaussianKL(KLParams())
    mu = torch.randn(2, 3)
    kl(_q(mu, torch.ones(2, 3)), _standard(3), mu, torch.zeros(2))
    assert kl.params.estimator == "analytic"


def test_monte_carlo_is_log_q_minus_log_p_at_the_draw():
    q, p = _q(torch.randn(4, 3), torch.rand(4, 3) + 0.3), _standard(3)
    z = q.sample()
    got = GaussianKL(KLParams(estimator="monte_carlo"))(q, p, z, q.log_prob(z))
    assert torch.allclose(got, q.log_prob(z) - p.log_prob(z))
