"""Evaluation on a linear-Gaussian VAE, where log p(x) and the true posterior are closed form.

p(z) = N(0, I), p(x|z) = N(Wz + b, s^2 I) gives p(x) = N(b, WW^T + s^2 I). W has orthogonal
columns, so the true posterior N(S W^T (x - b) / s^2, S), S = (I + W^T W / s^2)^-1, is diagonal
and the model's encoder head can hold it exactly (or a deliberately worse one).
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torch.distributions import MultivariateNormal

from genkit_core import DataInfo, Decoder, Encoder, ObjectiveParams, Params
from genkit_core.evaluation import (
    active_units,
    evaluate,
    iw_log_likelihood,
    negative_elbo_terms,
)
from genkit_core.model import LatentVariableModel
from genkit_plugins.divergences.gaussian_kl import GaussianKL
from genkit_plugins.divergences.mc_kl import MonteCarloKL
from genkit_plugins.likelihoods.gaussian import Gaussian
from genkit_plugins.likelihoods.location_scale import LocationScaleParams
from genkit_plugins.objectives.elbo import ELBO
from genkit_plugins.posteriors.gaussian import GaussianPosterior
from genkit_plugins.priors.standard_normal import StandardNormal

D, L, NOISE = 3, 2, 0.5
BIAS = torch.tensor([0.1, -0.2, 0.3], dtype=torch.float64)
ROTATION = torch.linalg.qr(torch.tensor([[1.0, 2, 0], [0, 1, 1], [1, 0, 1]]).double())[0]
WEIGHT = ROTATION[:, :L] * torch.tensor([2.0, 1.0], dtype=torch.float64)  # W^T W = diag(4, 1)


class _Flat(Encoder):
    Params = Params

    def __init__(self, params: Params, in_shape: tuple[int, ...]):
        super().__init__(params, in_shape)
        self.out_features = D

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)


class _Linear(Decoder):
    Params = Params

    def __init__(self, params: Params, in_features: int, out_shape: tuple[int, ...]):
        super().__init__(params, in_features, out_shape)
        self.linear = nn.Linear(in_features, D)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.linear(z)[:, None]


def _linear_gaussian_vae(
    exact: bool = True, divergence: type = MonteCarloKL, latent_scale: tuple[float, ...] = (1, 1)
) -> LatentVariableModel:
    likelihood = Gaussian(
        LocationScaleParams(variance="shared", min_scale=1e-9, activation="identity"), (D,)
    )
    model = LatentVariableModel(
        "vae", L, DataInfo((D,)), _Flat(Params(), (D,)), GaussianPosterior(Params(), (D,), L),
        _Linear(Params(), L, (1, D)), likelihood, ELBO(ObjectiveParams(), L),
        StandardNormal(Params(), L), divergence(divergence.Params()),
    )  # fmt: skip
    model.double()
    covariance = 1 / (1 + WEIGHT.square().sum(0) / NOISE**2)  # diagonal of S
    gain = covariance[:, None] * WEIGHT.T / NOISE**2 * torch.tensor(latent_scale).double()[:, None]
    with torch.no_grad():
        model.decoder.linear.weight.copy_(WEIGHT)
        model.decoder.linear.bias.copy_(BIAS)
        likelihood.log_scale.fill_(math.log(NOISE - 1e-9))
        head = model.posterior.head
        head.weight.zero_()
        head.weight[:L] = gain
        head.bias[:L] = -gain @ BIAS + (0 if exact else 0.4)
        head.bias[L:] = covariance.log() + (0 if exact else math.log(3.0))
    return model.eval()


def _exact_log_px(x: torch.Tensor) -> torch.Tensor:
    cov = WEIGHT @ WEIGHT.T + NOISE**2 * torch.eye(D, dtype=torch.float64)
    return MultivariateNormal(BIAS, cov).log_prob(x)


def _data(n: int = 8) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    z = torch.randn(n, L, generator=generator).double()
    return z @ WEIGHT.T + BIAS + NOISE * torch.randn(n, D, generator=generator).double()


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_iw_with_one_sample_is_the_elbo_with_the_same_noise():
    model, x = _linear_gaussian_vae(exact=False), _data()
    iw = iw_log_likelihood(model, x, None, samples=1, generator=_generator(5))
    eps = torch.randn(1, len(x), L, generator=_generator(5))[0]
    terms = negative_elbo_terms(model, x, None, eps)
    assert torch.allclose(iw, -(terms["reconstruction"] + terms["kl"]), atol=1e-10)


def test_with_the_true_posterior_every_bound_is_the_exact_log_likelihood():
    model, x = _linear_gaussian_vae(exact=True, divergence=GaussianKL), _data()
    exact = _exact_log_px(x)
    for samples in (1, 7):
        iw = iw_log_likelihood(model, x, None, samples, generator=_generator(samples))
        assert torch.allclose(iw, exact, atol=1e-8)
    # with the closed-form KL the ELBO is exact in expectation over the posterior sample
    eps = torch.randn(4000, len(x), L, generator=_generator(3)).double()
    terms = negative_elbo_terms(model, x.repeat(4000, 1), None, eps.view(-1, L))
    elbo = -(terms["reconstruction"] + terms["kl"]).view(4000, len(x))
    error = elbo.std(0) / 4000**0.5
    assert torch.all((elbo.mean(0) - exact).abs() < 4 * error)


def test_iw_rises_with_k_and_converges_to_log_px_from_below():
    model, x = _linear_gaussian_vae(exact=False), _data()
    exact = _exact_log_px(x)
    repeats = x.repeat(200, 1)  # 200 independent estimates per example in one call
    runs = {
        k: iw_log_likelihood(model, repeats, None, k, _generator(k)).view(200, -1)
        for k in (1, 10, 100)
    }
    means = {k: estimates.mean(0) for k, estimates in runs.items()}
    assert torch.all(means[1] < means[10]) and torch.all(means[10] < means[100])
    error = runs[100].std(0) / 200**0.5
    assert torch.all(means[100] < exact + 4 * error)  # a lower bound in expectation
    eps = torch.randn(len(repeats), L, generator=_generator(0))
    terms = negative_elbo_terms(model, repeats, None, eps)
    elbo = -(terms["reconstruction"] + terms["kl"]).view(200, -1).mean(0)
    assert torch.all(elbo < means[10])  # the IW bound is above the ELBO in expectation
    many = iw_log_likelihood(model, x, None, 20_000, _generator(0), max_batch=1 << 16)
    assert torch.allclose(many, exact, atol=0.02)


def test_evaluate_reports_per_example_nats_and_the_exact_likelihood():
    model, x = _linear_gaussian_vae(exact=False).float(), _data(32)
    batches = [(x[:16].float(), None), (x[16:].float(), None)]  # evaluate works in float32
    report = evaluate(model, batches, iw_samples=2000, seed=0)
    assert report["examples"] == 32 and report["normalized"]
    assert report["negative_elbo"] == pytest.approx(report["reconstruction"] + report["kl"])
    assert report["iw_nll"] == pytest.approx(float(-_exact_log_px(x).mean()), abs=0.02)
    assert report["iw_nll"] < report["negative_elbo"]


def test_active_units_count_dimensions_whose_posterior_mean_varies():
    # dimension 0 keeps its gain; dimension 1's gain is shrunk until its mean barely moves
    model, x = _linear_gaussian_vae(latent_scale=(1.0, 0.01)).float(), _data(64).float()
    count, variance = active_units(model, [(x[:32], None), (x[32:], None)])
    means = model.encode(x)
    assert torch.allclose(variance, means.var(0), atol=1e-6)
    assert variance[0] > 0.01 > variance[1]
    assert count == 1
