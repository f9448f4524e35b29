"""discretized_logistic and categorical256 against direct computations on 8-bit data."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Categorical

from genkit_core import Params
from genkit_plugins.likelihoods.categorical256 import Categorical256
from genkit_plugins.likelihoods.discretized_logistic import (
    DiscretizedLogistic,
    DiscretizedLogisticParams,
)

SHAPE = (2, 3, 3)


def _eight_bit(n: int) -> torch.Tensor:
    x = torch.randint(0, 256, (n, *SHAPE)).double() / 255
    x.view(-1)[:2] = torch.tensor([0.0, 1.0], dtype=torch.float64)  # both edge bins occur
    return x


def _direct_discretized_logistic(x, loc, scale):
    """P(bin) as a plain difference of logistic CDFs in float64, edges to +-inf."""
    half = 0.5 / 255
    upper = torch.where(x >= 1, torch.ones_like(x), torch.sigmoid((x + half - loc) / scale))
    lower = torch.where(x <= 0, torch.zeros_like(x), torch.sigmoid((x - half - loc) / scale))
    return (upper - lower).log().flatten(1).sum(1)


def test_discretized_logistic_matches_the_cdf_difference():
    lik = DiscretizedLogistic(DiscretizedLogisticParams(min_scale=1e-3), SHAPE)
    x = _eight_bit(6)
    out = torch.stack([torch.rand(6, *SHAPE), torch.randn(6, *SHAPE) - 2], 1).double()
    scale = 1e-3 + out[:, 1].exp()
    expected = _direct_discretized_logistic(x, out[:, 0], scale)
    assert torch.allclose(lik.log_prob(x, out), expected, rtol=1e-7, atol=1e-7)
    assert lik.num_params == 2 and lik.normalized


def test_discretized_logistic_is_finite_for_very_unlikely_bins():
    lik = DiscretizedLogistic(DiscretizedLogisticParams(), (1,))
    out = torch.tensor([[[0.0], [-6.0]]])  # sharp logistic at 0 ...
    value = lik.log_prob(torch.tensor([[0.6]]), out)  # ... a bin far in its tail
    assert torch.isfinite(value) and value < -100


def test_discretized_logistic_sums_to_one_over_the_256_bins():
    lik = DiscretizedLogistic(DiscretizedLogisticParams(), (1,))
    bins = (torch.arange(256).double() / 255)[:, None]
    out = torch.tensor([[0.3], [-2.5]], dtype=torch.float64).expand(256, 2, 1)
    assert torch.allclose(lik.log_prob(bins, out).exp().sum(), torch.tensor(1.0).double())
    draws = lik.sample(out.float())
    assert draws.shape == (256, 1) and torch.equal(draws, (draws * 255).round() / 255)


def test_categorical256_matches_torch_categorical():
    lik = Categorical256(Params(), SHAPE)
    x = _eight_bit(4).float()
    logits = torch.randn(4, 256, *SHAPE)
    index = (x * 255).round().long()
    expected = Categorical(logits=logits.movedim(1, -1)).log_prob(index).flatten(1).sum(1)
    assert torch.allclose(lik.log_prob(x, logits), expected, atol=1e-4)
    assert lik.num_params == 256 and lik.normalized


def test_categorical256_mean_and_sample():
    lik = Categorical256(Params(), (3,))
    logits = torch.full((2, 256, 3), -1e4)
    logits[:, 51] = 0.0  # all mass on the value 51 / 255 = 0.2
    assert torch.allclose(lik.mean(logits), torch.full((2, 3), 0.2))
    assert torch.allclose(lik.sample(logits), torch.full((2, 3), 0.2))
    uniform = torch.zeros(1, 256, 1)
    assert torch.allclose(lik.mean(uniform), torch.tensor([[0.5]]))


@pytest.mark.parametrize(
    "lik",
    [
        pytest.param(DiscretizedLogistic(DiscretizedLogisticParams(), (3,)), id="logistic"),
        pytest.param(Categorical256(Params(), (3,)), id="categorical256"),
    ],
)
def test_eight_bit_likelihoods_refuse_data_outside_zero_one(lik):
    assert "needs 8-bit data mapped to [0, 1]" in lik.support_error(torch.tensor([[0.0, 1.5, 0]]))
    assert lik.support_error(torch.tensor([[0.0, 0.5, 1.0]])) is None
