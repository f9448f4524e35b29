"""gaussian and laplace against torch.distributions and their formulas, for every variance."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Laplace as TorchLaplace
from torch.distributions import Normal

from genkit_plugins.likelihoods.gaussian import Gaussian
from genkit_plugins.likelihoods.laplace import Laplace
from genkit_plugins.likelihoods.location_scale import LocationScaleParams

SHAPE = (1, 3, 3)


def _gaussian_formula(x, loc, scale):
    return (
        (-0.5 * ((x - loc) / scale) ** 2 - scale.log() - 0.5 * math.log(2 * math.pi))
        .flatten(1)
        .sum(1)
    )


def _laplace_formula(x, loc, scale):
    return (-(x - loc).abs() / scale - (2 * scale).log()).flatten(1).sum(1)


CASES = [
    pytest.param(Gaussian, Normal, _gaussian_formula, id="gaussian"),
    pytest.param(Laplace, TorchLaplace, _laplace_formula, id="laplace"),
]


@pytest.mark.parametrize(("cls", "torch_cls", "formula"), CASES)
@pytest.mark.parametrize("variance", ["per_pixel", "shared", "decoder"])
def test_log_prob_matches_torch_and_the_formula(cls, torch_cls, formula, variance):
    params = LocationScaleParams(variance=variance, min_scale=0.01, activation="identity")
    lik = cls(params, SHAPE)
    with torch.no_grad():
        if lik.log_scale is not None:
            lik.log_scale.copy_(torch.randn(lik.log_scale.shape))
    out = torch.randn(5, lik.num_params, *SHAPE)
    x = torch.randn(5, *SHAPE)
    log_scale = out[:, 1] if variance == "decoder" else lik.log_scale.detach()
    scale = (0.01 + log_scale.exp()).expand_as(x)
    expected = torch_cls(out[:, 0], scale).log_prob(x).flatten(1).sum(1)
    got = lik.log_prob(x, out)
    assert got.shape == (5,)
    assert torch.allclose(got, expected, atol=1e-5)
    assert torch.allclose(got, formula(x, out[:, 0], scale), atol=1e-4)
    assert lik.num_params == (2 if variance == "decoder" else 1)
    assert lik.normalized


@pytest.mark.parametrize(("cls", "torch_cls", "formula"), CASES)
def test_learned_scale_receives_gradients_and_sigmoid_mean(cls, torch_cls, formula):
    lik = cls(LocationScaleParams(variance="shared"), SHAPE)
    out = torch.randn(4, 1, *SHAPE)
    lik.log_prob(torch.rand(4, *SHAPE), out).sum().backward()
    assert lik.log_scale.shape == () and lik.log_scale.grad is not None
    assert torch.allclose(lik.mean(out), torch.sigmoid(out[:, 0]))
    assert lik.sample(out).shape == (4, *SHAPE)
    assert lik.support_error(torch.randn(3, *SHAPE) * 100) is None


def test_min_scale_floors_the_scale():
    lik = Gaussian(LocationScaleParams(variance="decoder", min_scale=0.5), SHAPE)
    out = torch.full((2, 2, *SHAPE), -50.0)
    assert torch.allclose(lik.scale(out), torch.full((2, *SHAPE), 0.5))


def test_samples_have_the_learned_spread():
    lik = Gaussian(LocationScaleParams(variance="shared", activation="identity"), (2000,))
    with torch.no_grad():
        lik.log_scale.fill_(math.log(0.3))
    draws = lik.sample(torch.zeros(4, 1, 2000))
    assert abs(float(draws.std()) - 0.301) < 0.01
