"""The modifiers every divergence takes, through the model: beta, annealing, free bits."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Independent, Normal

from genkit_core import Annealing, DivergenceParams, SpecError, build_model
from genkit_plugins.divergences.gaussian_kl import GaussianKL, KLParams
from genkit_plugins.divergences.mc_kl import MonteCarloKL

DIVERGENCES = ["gaussian_kl", "mc_kl", "mmd"]


@pytest.mark.parametrize("name", DIVERGENCES)
def test_beta_zero_turns_the_divergence_off_exactly(spec_dict, name):
    model = build_model(spec_dict(divergence={"type": name, "beta": 0.0}))
    x, eps = torch.rand(8, 1, 8, 8), torch.randn(8, 4)
    out = model(x, noise=eps)
    assert torch.equal(out.loss, out.terms["reconstruction"].mean())
    assert out.terms["divergence"].abs().sum() > 0  # still reported


@pytest.mark.parametrize(
    ("kind", "step", "expected"),
    [
        pytest.param("linear", 0, 0.0, id="linear-start"),
        pytest.param("linear", 250, 0.5, id="linear-half"),
        pytest.param("linear", 2000, 1.0, id="linear-after"),
        pytest.param("cyclical", 100, 0.4, id="cyclical-rising"),
        pytest.param("cyclical", 300, 1.0, id="cyclical-flat"),
        pytest.param("cyclical", 550, 0.2, id="cyclical-restarted"),
    ],
)
def test_annealing_weights(kind, step, expected):
    # linear: min(1, t / 500); cyclical (S=500, r=0.5): min(1, (t mod 500) / 250)
    params = DivergenceParams(beta=2.0, anneal=Annealing(kind=kind, steps=500, ratio=0.5))
    weight = MonteCarloKL(params).weight(torch.tensor(float(step)))
    assert torch.allclose(torch.as_tensor(weight), torch.tensor(2.0 * expected))


def test_free_bits_floor_each_dimension_of_the_batch_mean():
    q = Independent(Normal(torch.tensor([[0.1, 2.0], [0.0, 3.0]]), torch.ones(2, 2)), 1)
    p = Independent(Normal(torch.zeros(2), torch.ones(2)), 1)
    kl = GaussianKL(KLParams(free_bits=0.5))
    value, penalty, _ = kl.penalty(q, p, q.mean, q.log_prob(q.mean))
    per_dim = 0.5 * q.mean**2  # unit variances: KL per dimension is mu^2 / 2
    assert torch.allclose(value, per_dim.sum(-1))
    expected = per_dim.mean(0).clamp(min=0.5).sum()  # dim 0 floored at 0.5, dim 1 is 3.25
    assert torch.allclose(penalty, expected) and torch.allclose(expected, torch.tensor(3.75))


def test_free_bits_with_a_prior_that_does_not_factorise_is_a_spec_error(spec_dict):
    spec = spec_dict(prior={"type": "mixture"}, divergence={"type": "mc_kl", "free_bits": 0.1})
    with pytest.raises(SpecError, match=r"divergence\.free_bits: .* and mc_kl does not for"):
        build_model(spec)  # the spec's name for it, not the class's (MonteCarloKL)


def test_free_bits_with_a_monte_carlo_kl_floor_its_per_dimension_estimate(spec_dict):
    spec = spec_dict(prior={"type": "gaussian"}, divergence={"type": "gaussian_kl",
                     "estimator": "monte_carlo", "free_bits": 0.1})  # fmt: skip
    out = build_model(spec)(torch.rand(4, 1, 8, 8), noise=torch.randn(4, 4))
    assert out.terms["divergence"].shape == (4,)
