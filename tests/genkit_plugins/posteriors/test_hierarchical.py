"""The hierarchical posterior: each layer's draw and density by hand, the code, the top layer."""

from __future__ import annotations

import math

import pytest
import torch

from genkit_plugins.posteriors.gaussian_chain import GaussianChain
from genkit_plugins.posteriors.hierarchical import (
    HierarchicalParams,
    HierarchicalPosterior,
    LayerParams,
)

SIZES = (3, 2, 4)  # z_1, z_2, z_3: three layers, so the chain's order is not a special case


def _posterior() -> HierarchicalPosterior:
    torch.manual_seed(0)
    layers = [LayerParams(latent_dim=2, hidden=[5]), LayerParams(latent_dim=4, hidden=[6, 3])]
    return HierarchicalPosterior(HierarchicalParams(layers=layers), (7,), 3)


def _gaussian(net: torch.nn.Module, parent: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation of a layer, from its network's raw output."""
    mu, log_var = net(parent).chunk(2, -1)
    return mu, (0.5 * log_var).exp()


def _log_normal(z, mu, sigma):
    return (-0.5 * ((z - mu) / sigma) ** 2 - sigma.log() - 0.5 * math.log(2 * math.pi)).sum(-1)


def test_shapes_the_decoder_sees_the_bottom_layer_only():
    post = _posterior()
    assert post.sizes == SIZES
    assert post.latent_shape == post.noise_shape == (9,)
    assert post.decoder_shape == (3,)
    z = torch.randn(2, 5, 9)
    assert torch.equal(post.decoder_input(z), z[..., :3])


def test_a_draw_is_ancestral_and_log_q_sums_each_layer_given_its_parent():
    post = _posterior()
    h = torch.randn(5, 7)
    q = post(h)
    noise = torch.randn(4, 5, 9)
    draw = post.sample(q, noise)
    eps = noise.split(SIZES, -1)
    mu1, s1 = _gaussian(post.bottom.net, h)
    z1 = mu1 + s1 * eps[0]
    mu2, s2 = _gaussian(post.upward[0].net, z1)
    z2 = mu2 + s2 * eps[1]
    mu3, s3 = _gaussian(post.upward[1].net, z2)
    z3 = mu3 + s3 * eps[2]
    assert torch.allclose(draw.z, torch.cat([z1, z2, z3], -1), atol=1e-6)
    expected = _log_normal(z1, mu1, s1) + _log_normal(z2, mu2, s2) + _log_normal(z3, mu3, s3)
    assert torch.allclose(draw.log_q, expected, atol=1e-5)
    assert torch.allclose(q.log_prob(draw.z), expected, atol=1e-5)  # the density of any z


def test_the_code_is_each_layer_at_its_mean_given_the_code_below():
    post = _posterior()
    h = torch.randn(5, 7)
    m1, _ = _gaussian(post.bottom.net, h)
    m2, _ = _gaussian(post.upward[0].net, m1)
    m3, _ = _gaussian(post.upward[1].net, m2)
    assert torch.allclose(post.code(post(h)), torch.cat([m1, m2, m3], -1), atol=1e-6)
    top = post.top(h)  # the VampPrior's components: q(z_3 | code of z_2)
    assert top.batch_shape == (5,) and top.event_shape == (4,)
    assert torch.allclose(top.mean, m3, atol=1e-6)


def test_samples_of_the_chain_follow_its_law():
    """Monte Carlo moments of the chain's own sample() against the two-layer formulas."""
    post = HierarchicalPosterior(HierarchicalParams(layers=[LayerParams(latent_dim=1)]), (2,), 1)
    with torch.no_grad():  # z1 ~ N(1, 0.5^2), z2 | z1 ~ N(2 z1 - 1, 0.3^2): linear layers
        post.bottom.net[0].weight.zero_()
        post.bottom.net[0].bias.copy_(torch.tensor([1.0, 2 * math.log(0.5)]))
        post.upward[0].net[0].weight.copy_(torch.tensor([[2.0], [0.0]]))
        post.upward[0].net[0].bias.copy_(torch.tensor([-1.0, 2 * math.log(0.3)]))
    q: GaussianChain = post(torch.zeros(1, 2))
    torch.manual_seed(1)
    z = q.sample(torch.Size([200_000]))[:, 0]
    assert z.mean(0).tolist() == pytest.approx([1.0, 1.0], abs=0.01)
    assert z.std(0).tolist() == pytest.approx([0.5, math.sqrt(4 * 0.25 + 0.09)], abs=0.01)
    assert torch.corrcoef(z.T)[0, 1].item() == pytest.approx(1.0 / math.sqrt(1.09), abs=0.01)


def test_the_chain_needs_one_link_between_each_pair_of_layers():
    root = _posterior().bottom(torch.randn(2, 7))
    with pytest.raises(ValueError, match="3 layers need 2 links, got 1"):
        GaussianChain(root, [torch.nn.Identity()], SIZES)
