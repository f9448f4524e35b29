"""The one KL helper: the closed form where torch has one, else Monte Carlo at the draw."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

from genkit_core.kl import closed_form_kl, has_closed_form, kl_estimate


def _gaussian(loc, scale):
    return Independent(Normal(loc, scale), 1)


def _mixture():
    components = _gaussian(torch.randn(3, 2), torch.ones(3, 2))
    return MixtureSameFamily(Categorical(logits=torch.zeros(3)), components)


def test_closed_form_per_dimension_is_the_textbook_formula():
    mu, sigma = torch.randn(5, 3), torch.rand(5, 3) + 0.2
    per_dim = closed_form_kl(_gaussian(mu, sigma), _gaussian(torch.zeros(3), torch.ones(3)), True)
    assert torch.allclose(per_dim, 0.5 * (mu**2 + sigma**2 - 2 * sigma.log() - 1), atol=1e-6)


def test_auto_uses_the_closed_form_where_there_is_one():
    q = _gaussian(torch.randn(4, 2), torch.rand(4, 2) + 0.5)
    p = _gaussian(torch.zeros(2), torch.ones(2))
    z = q.sample()
    assert has_closed_form(q, p)
    assert torch.equal(kl_estimate(q, p, z, q.log_prob(z)), closed_form_kl(q, p))


def test_auto_falls_back_to_monte_carlo_and_it_is_unbiased():
    torch.manual_seed(0)
    q = _gaussian(torch.randn(2, 2), torch.rand(2, 2) + 0.5)
    p = _mixture()
    assert not has_closed_form(q, p)
    z = q.sample((100_000,))
    estimates = kl_estimate(q, p, z, q.log_prob(z))
    assert torch.allclose(estimates, q.log_prob(z) - p.log_prob(z))
    # an independent reference: numerical integration on a grid
    grid = torch.stack(torch.meshgrid(*[torch.linspace(-9, 9, 601)] * 2, indexing="ij"), -1)
    cell = (18 / 600) ** 2
    for b in range(2):
        qb = _gaussian(q.base_dist.loc[b], q.base_dist.scale[b])
        dens = qb.log_prob(grid).exp()
        reference = (dens * (qb.log_prob(grid) - p.log_prob(grid))).sum() * cell
        assert estimates[:, b].mean().item() == pytest.approx(reference.item(), abs=0.02)


def test_analytic_names_the_pair_without_a_formula():
    q = _gaussian(torch.zeros(1, 2), torch.ones(1, 2))
    with pytest.raises(NotImplementedError, match=r"KL\(Independent\(Normal\) \|\| Mixture"):
        kl_estimate(q, _mixture(), q.mean, torch.zeros(1), "analytic")
