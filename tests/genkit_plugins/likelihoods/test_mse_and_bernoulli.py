"""mse and bernoulli against torch's own losses and distributions."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.distributions import Bernoulli as TorchBernoulli
from torch.distributions import Normal

from genkit_core import Params
from genkit_plugins.likelihoods.bernoulli import Bernoulli
from genkit_plugins.likelihoods.mse import MSE, MSEParams


def test_mse_is_the_per_example_sum_of_squared_errors():
    x, out = torch.rand(4, 1, 5, 5), torch.randn(4, 1, 1, 5, 5)
    mse = MSE(MSEParams(), (1, 5, 5))
    expected = torch.stack(
        [F.mse_loss(torch.sigmoid(o[0]), xi, reduction="sum") for o, xi in zip(out, x, strict=True)]
    )
    assert torch.allclose(-mse.log_prob(x, out), expected, atol=1e-5)


def test_mse_with_weight_half_is_a_unit_gaussian_without_its_constant():
    x, out = torch.rand(3, 10), torch.randn(3, 1, 10)
    mse = MSE(MSEParams(weight=0.5, activation="identity"), (10,))
    gaussian = Normal(out[:, 0], 1.0).log_prob(x).sum(-1)
    assert torch.allclose(
        mse.log_prob(x, out), gaussian + 10 / 2 * math.log(2 * math.pi), atol=1e-5
    )
    assert not mse.normalized


def test_bernoulli_matches_torch_distributions():
    x = torch.randint(0, 2, (5, 1, 4, 4)).float()
    logits = torch.randn(5, 1, 1, 4, 4)
    expected = TorchBernoulli(logits=logits[:, 0]).log_prob(x).flatten(1).sum(1)
    assert torch.allclose(Bernoulli(Params(), (1, 4, 4)).log_prob(x, logits), expected, atol=1e-5)


def test_bernoulli_refuses_data_outside_zero_one():
    assert "needs values in [0, 1]" in Bernoulli(Params(), (3,)).support_error(
        torch.tensor([[0.0, 2.0, 1.0]])
    )
    assert Bernoulli(Params(), (3,)).support_error(torch.tensor([[0.0, 0.5, 1.0]])) is None
