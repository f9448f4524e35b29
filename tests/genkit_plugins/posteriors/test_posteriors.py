"""The built-in posteriors: each draw's z and log q against torch.distributions, and the
contract every posterior keeps (shapes for one and for K draws, codes, gradients).
"""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Independent, Normal

from genkit_core import Params
from genkit_core.testing import check_component
from genkit_plugins.posteriors.delta import DeltaPosterior
from genkit_plugins.posteriors.gaussian import GaussianPosterior
from genkit_plugins.posteriors.hierarchical import HierarchicalPosterior
from genkit_plugins.posteriors.iaf import IAFParams, IAFPosterior


@pytest.mark.parametrize(
    ("cls", "params"),
    [
        pytest.param(GaussianPosterior, {}, id="gaussian"),
        pytest.param(DeltaPosterior, {}, id="delta"),
        pytest.param(IAFPosterior, {"hidden": [16], "transforms": 3}, id="iaf"),
        pytest.param(
            HierarchicalPosterior,
            {"layers": [{"latent_dim": 3, "hidden": [8]}, {"latent_dim": 2, "hidden": []}]},
            id="hierarchical",
        ),
    ],
)
def test_keeps_the_posterior_contract(cls, params):
    check_component(cls, params)


def test_gaussian_draw_is_mu_plus_sigma_eps_with_the_normal_log_density():
    torch.manual_seed(0)
    post = GaussianPosterior(Params(), (6,), 3)
    q = post(torch.randn(5, 6))
    noise = torch.randn(4, 5, 3)
    draw = post.sample(q, noise)
    mu, sigma = q.base_dist.loc, q.base_dist.scale
    assert torch.allclose(draw.z, mu + sigma * noise)
    reference = Independent(Normal(mu, sigma), 1).log_prob(draw.z)
    assert torch.allclose(draw.log_q, reference, atol=1e-5)
    assert torch.equal(post.code(q), mu)


def test_gaussian_gradients_reach_mean_and_scale_through_the_draw():
    post = GaussianPosterior(Params(), (6,), 3)
    q = post(torch.randn(5, 6))
    q.base_dist.loc.retain_grad()
    q.base_dist.scale.retain_grad()
    noise = torch.randn(5, 3)
    post.sample(q, noise).z.sum().backward()
    assert torch.allclose(q.base_dist.loc.grad, torch.ones(5, 3))
    assert torch.allclose(q.base_dist.scale.grad, noise)


def test_delta_draws_its_code_whatever_the_noise_with_zero_log_q():
    post = DeltaPosterior(Params(), (6,), 3)
    q = post(torch.randn(5, 6))
    assert post.noise_shape == (0,)
    draw = post.sample(q, torch.randn(2, 5, 0))
    assert torch.equal(draw.z, post.code(q).expand(2, 5, 3))
    assert torch.equal(draw.log_q, torch.zeros(2, 5))
    assert not DeltaPosterior.stochastic


def test_iaf_log_q_at_the_draw_equals_the_flows_own_log_prob():
    """The draw's density (no inverse) against zuko's log_prob (the L-pass inverse)."""
    torch.manual_seed(1)
    post = IAFPosterior(IAFParams(hidden=[32, 32], transforms=3), (8,), 5)
    q = post(torch.randn(6, 8))
    draw = post.sample(q, torch.randn(7, 6, 5))
    assert torch.allclose(draw.log_q, q.log_prob(draw.z), atol=1e-4)


def test_iaf_density_integrates_to_one_in_one_dimension():
    """An independent check of the change of variables: integrate q over a fine grid."""
    torch.manual_seed(2)
    post = IAFPosterior(IAFParams(hidden=[8], transforms=2), (3,), 1)
    q = post(torch.randn(1, 3))
    grid = torch.linspace(-12, 12, 24_001).reshape(-1, 1, 1)
    with torch.no_grad():
        density = q.log_prob(grid).exp().squeeze()
    assert torch.trapezoid(density, dx=24 / 24_000).item() == pytest.approx(1.0, abs=1e-3)


def test_iaf_is_not_just_its_gaussian_base():
    torch.manual_seed(3)
    post = IAFPosterior(IAFParams(hidden=[16], transforms=2), (4,), 3)
    for p in post.flow.parameters():
        torch.nn.init.normal_(p, std=0.5)
    q = post(torch.randn(5, 4))
    noise = torch.randn(5, 3)
    base_z = q.base.base_dist.loc + q.base.base_dist.scale * noise
    assert not torch.allclose(post.sample(q, noise).z, base_z, atol=1e-3)
