"""gaussian, mixture and vamp priors against direct computations, and in a training VAE."""

from __future__ import annotations

import math

import pytest
import torch

from genkit_core import Params, SpecError, build_model
from genkit_plugins.priors.gaussian import LearnedGaussian
from genkit_plugins.priors.mixture import MixtureOfGaussians, MixtureParams


def _normal_log_density(z, loc, scale):
    """log N(z; loc, diag scale^2) summed over the last dimension, by the formula."""
    return (-0.5 * ((z - loc) / scale) ** 2 - scale.log() - 0.5 * math.log(2 * math.pi)).sum(-1)


def test_learned_gaussian_log_prob_and_gradients():
    prior = LearnedGaussian(Params(), 3)
    with torch.no_grad():
        prior.loc.copy_(torch.tensor([1.0, -1.0, 0.0]))
        prior.log_scale.copy_(torch.tensor([0.0, 0.5, -0.5]))
    z = torch.randn(6, 3)
    expected = _normal_log_density(z, prior.loc.detach(), prior.log_scale.detach().exp())
    log_p = prior.log_prob(z)
    assert torch.allclose(log_p, expected, atol=1e-5)
    log_p.sum().backward()
    assert prior.loc.grad.abs().sum() > 0 and prior.log_scale.grad.abs().sum() > 0
    assert prior.sample(5).shape == (5, 3)


def test_mixture_log_prob_is_the_logsumexp_over_weighted_components():
    prior = MixtureOfGaussians(MixtureParams(components=4), 2)
    with torch.no_grad():
        prior.logits.copy_(torch.tensor([0.0, 1.0, -1.0, 0.5]))
        prior.log_scale.copy_(torch.randn(4, 2) * 0.3)
    z = torch.randn(7, 2)
    loc, scale = prior.loc.detach(), prior.log_scale.detach().exp()
    per_component = _normal_log_density(z[:, None], loc, scale)  # (7, 4)
    weights = torch.log_softmax(prior.logits.detach(), 0)
    expected = torch.logsumexp(per_component + weights, dim=1)
    log_p = prior.log_prob(z)
    assert torch.allclose(log_p, expected, atol=1e-5)
    log_p.sum().backward()
    assert all(p.grad.abs().sum() > 0 for p in (prior.loc, prior.log_scale, prior.logits))
    assert prior.sample(9).shape == (9, 2)


def test_vamp_log_prob_is_the_mean_of_the_pseudo_input_posteriors(spec_dict):
    model = build_model(
        spec_dict(prior={"type": "vamp", "components": 5}, divergence={"type": "mc_kl"})
    )
    prior = model.prior
    assert prior.pseudo_inputs.shape == (5, 1, 8, 8)
    z = torch.randn(6, 4)
    mu, logvar = model.posterior.head(model.encoder(prior.pseudo_inputs)).detach().chunk(2, -1)
    per_component = _normal_log_density(z[:, None], mu, (0.5 * logvar).exp())  # (6, 5)
    expected = torch.logsumexp(per_component, dim=1) - math.log(5)
    log_p = prior.log_prob(z)
    assert torch.allclose(log_p, expected, atol=1e-5)
    log_p.sum().backward()
    assert prior.pseudo_inputs.grad.abs().sum() > 0
    assert model.posterior.head.weight.grad.abs().sum() > 0  # the prior shares the encoder
    assert prior.sample(8).shape == (8, 4)
    assert "prior.pseudo_inputs" in model.state_dict()


def test_vamp_refuses_a_cvae(spec_dict):
    spec = spec_dict(model="cvae", prior={"type": "vamp"}, divergence={"type": "mc_kl"})
    with pytest.raises(SpecError, match=r"prior.type.*use model: vae"):
        build_model(spec)


@pytest.mark.parametrize(
    "prior",
    [
        pytest.param({"type": "gaussian"}, id="gaussian"),
        pytest.param({"type": "mixture", "components": 3}, id="mixture"),
        pytest.param({"type": "vamp", "components": 4}, id="vamp"),
    ],
)
def test_a_vae_with_each_prior_trains_with_the_default_divergence(spec_dict, adam_steps, prior):
    model = build_model(spec_dict(prior=prior))  # the KL: closed form or Monte Carlo by itself
    x = torch.rand(16, 1, 8, 8).round()
    before = [p.detach().clone() for p in model.prior.parameters()]
    losses = adam_steps(model, x, lambda: torch.randn(16, 4), steps=10)
    assert math.isfinite(losses[-1]) and losses[-1] < losses[0]
    after = list(model.prior.parameters())
    assert all(not torch.equal(b, a) for b, a in zip(before, after, strict=True))
    assert model.sample(3).shape == (3, 1, 8, 8)
