"""code_diffusion: the fit's loss is DDPM's epsilon error, its samplers (DDIM and ancestral)
reproduce Gaussian codes, and log_prob is the variational bound (checked with the exact noise
predictor of Gaussian codes, where the bound must sit just under the true density)."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn
from torch.distributions import Normal

from genkit_core import SpecError
from genkit_plugins.priors.code_diffusion import CodeDiffusion, _betas

from .test_code_samplers import SMALL, codes, small


def test_the_loss_is_the_epsilon_error_at_a_uniform_step():
    prior, u = small(CodeDiffusion), torch.randn(5, 3)
    torch.manual_seed(2)
    loss = prior.loss(u)
    torch.manual_seed(2)
    t = torch.randint(0, 20, (5,))
    eps = torch.randn(5, 3)
    alpha_bar = torch.cumprod(1 - _betas(20, "linear"), 0).float()[t][:, None]
    x_t = alpha_bar.sqrt() * u + (1 - alpha_bar).sqrt() * eps
    expected = ((eps - prior.net(x_t, t)) ** 2).sum(-1)
    assert torch.allclose(loss, expected, atol=1e-6)


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_the_schedules_end_near_pure_noise(schedule):
    alpha_bar = torch.cumprod(1 - _betas(1000, schedule), 0)
    assert alpha_bar[0] > 0.99 and alpha_bar[-1] < 1e-3
    assert torch.all(alpha_bar[1:] < alpha_bar[:-1])


class _ExactNoise(nn.Module):
    """E[eps | x_t] for codes u ~ N(0, C): sqrt(1 - a) (a C + (1 - a) I)^-1 x_t, a = alpha_bar_t."""

    def __init__(self, alpha_bars: Tensor, covariance: Tensor):
        super().__init__()
        self.alpha_bars = alpha_bars
        self.eigenvalues, self.eigenvectors = torch.linalg.eigh(covariance)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        a = self.alpha_bars[t][:, None]
        inverse = 1 / (a * self.eigenvalues + 1 - a)  # of a C + (1 - a) I, in C's eigenbasis
        return (1 - a).sqrt() * ((x @ self.eigenvectors) * inverse) @ self.eigenvectors.T


CORRELATED = torch.tensor([[1.0, 0.8], [0.8, 1.0]])


@pytest.mark.parametrize(
    ("steps", "sample_steps"),
    [pytest.param(1000, 100, id="ddim"), pytest.param(200, 200, id="ancestral")],
)
def test_the_samplers_with_the_exact_noise_draw_the_codes_distribution(steps, sample_steps):
    """With the exact noise predictor of N(0, C) codes, DDIM's and the ancestral sampler's draws
    have covariance C (standardised), then the codes' scale and shift. (With few steps of large
    betas both shrink the variance: 10 DDIM steps of 100 give 0.68 for 1.)"""
    prior = small(CodeDiffusion, latent_dim=2, steps=steps, sample_steps=sample_steps)
    prior.net = _ExactNoise(prior.alpha_bars, CORRELATED)
    prior.bound.fill_(100.0)
    prior.shift.copy_(torch.tensor([1.0, -2.0]))
    prior.scale.copy_(torch.tensor([2.0, 0.5]))
    torch.manual_seed(0)
    drawn = prior.sample(2000)
    u = (drawn - prior.shift) / prior.scale
    assert torch.allclose(u.mean(0), torch.zeros(2), atol=0.08)
    assert torch.allclose(torch.cov(u.T), CORRELATED, atol=0.1)  # 0 or 1 if a step is wrong


@pytest.mark.slow
def test_fitted_to_correlated_codes_its_draws_are_correlated_alike():
    """The whole fit: 1000 codes of correlation 0.8; the draws' correlation is within 0.15 of it
    (codes drawn independently per dimension, what a broken fit would give, have 0)."""
    torch.manual_seed(0)
    data = torch.randn(1000, 2) @ torch.linalg.cholesky(CORRELATED).T * torch.tensor([2.0, 0.5])
    params = {**SMALL[CodeDiffusion], "hidden": 32, "steps": 50, "sample_steps": 10,
              "epochs": 10, "batch_size": 100, "lr": 3e-3}  # fmt: skip
    prior = CodeDiffusion(CodeDiffusion.Params.model_validate(params), latent_dim=2)
    prior.fit(data)
    drawn = prior.sample(4000)
    correlation = torch.corrcoef(drawn.T)[0, 1]
    assert abs(float(correlation) - 0.8) < 0.15
    assert torch.allclose(drawn.std(0), data.std(0), rtol=0.2)


def _raw_elbo(prior: CodeDiffusion, u: Tensor) -> Tensor:
    """log p(x_T) + sum_t log p(x_{t-1}|x_t) - log q(x_{1:T}|u) on one forward trajectory,
    from torch.distributions (Ho et al.'s bound before it is rewritten as KL terms)."""
    betas, alpha_bars, net = prior.betas, prior.alpha_bars, prior.net
    xs = [u]
    log_q = torch.zeros(len(u))
    for t in range(len(betas)):
        step = Normal((1 - betas[t]).sqrt() * xs[-1], betas[t].sqrt())
        xs.append(step.sample())
        log_q += step.log_prob(xs[-1]).sum(-1)
    elbo = Normal(0.0, 1.0).log_prob(xs[-1]).sum(-1) - log_q
    for t in range(len(betas)):
        ts = torch.full((len(u),), t)
        mean = (xs[t + 1] - betas[t] / (1 - alpha_bars[t]).sqrt() * net(xs[t + 1], ts)) / (
            1 - betas[t]
        ).sqrt()
        var = betas[t] if t == 0 else (1 - alpha_bars[t - 1]) / (1 - alpha_bars[t]) * betas[t]
        elbo += Normal(mean, var.sqrt()).log_prob(xs[t]).sum(-1)
    return elbo


def test_log_prob_is_the_variational_bound():
    """Its mean over codes is the raw ELBO's (within Monte Carlo error), and under the density
    of the codes: with the exact noise predictor of standard normal codes, 5 steps (a bound of
    -13.7 nats against -2.8: few large steps make a loose bound)."""
    prior = small(CodeDiffusion, latent_dim=2, steps=5)
    prior.net = _ExactNoise(prior.alpha_bars, torch.eye(2))
    torch.manual_seed(1)
    u = torch.randn(50_000, 2)
    bound, raw = prior.log_prob(u).mean(), _raw_elbo(prior, u).mean()
    assert abs(float(bound - raw)) < 0.3  # 5 standard errors; a wrong term is off by more

    assert float(bound) < float(Normal(0.0, 1.0).log_prob(u).sum(-1).mean())


def test_more_sample_steps_than_steps_is_refused():
    with pytest.raises(SpecError, match="sample_steps 30 is more than the 20 steps"):
        small(CodeDiffusion, sample_steps=30)


def test_every_draw_is_finite_with_the_cosine_schedule():
    prior = small(CodeDiffusion, schedule="cosine", sample_steps=3)
    prior.fit(codes())
    assert torch.isfinite(prior.sample(500)).all()
