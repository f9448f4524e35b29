"""code_maf: its density is the change of variables of its flow, exact in z-space (the
standardisation's log-determinant included), normalised, and fits Gaussian codes closely."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import MultivariateNormal, Normal

from genkit_plugins.priors.code_maf import CodeMAF, CodeMAFParams

from .test_code_samplers import codes, small


def test_log_prob_is_the_change_of_variables_computed_independently():
    """log p(z) = log N(f(u); 0, I) + log|det df/du| - sum log s, with the Jacobian of the
    flow's forward transform f taken by autograd rather than from zuko's own log-determinant."""
    prior = small(CodeMAF)
    prior.fit(codes())
    z = codes(5, seed=9)
    transform = prior.net().transform
    for row, expected in zip(z, prior.log_prob(z), strict=True):
        u = (row - prior.shift) / prior.scale
        jacobian = torch.autograd.functional.jacobian(transform, u)
        base = Normal(0.0, 1.0).log_prob(transform(u)).sum()
        log_det = torch.linalg.slogdet(jacobian).logabsdet - prior.scale.log().sum()
        assert torch.allclose(expected, base + log_det, atol=1e-4)


def test_the_density_integrates_to_one():
    """In one dimension, on codes of scale 3 (so the standardisation's log-determinant counts)."""
    prior = CodeMAF(CodeMAFParams(transforms=2, hidden_features=[8], epochs=2), latent_dim=1)
    prior.fit(torch.randn(300, 1) * 3 + 5)
    grid = torch.linspace(-40, 50, 20_001)[:, None]
    mass = prior.log_prob(grid).exp().sum() * (grid[1, 0] - grid[0, 0])
    assert math.isclose(float(mass), 1.0, abs_tol=2e-3)


@pytest.mark.slow
def test_fitted_to_gaussian_codes_it_is_close_to_the_gaussian():
    """KL(true || fitted), estimated on fresh draws, is small (an untrained flow's is > 1)."""
    true = MultivariateNormal(torch.tensor([1.0, -2.0]), torch.tensor([[4.0, 1.5], [1.5, 1.0]]))
    torch.manual_seed(0)
    train, test = true.sample((2000,)), true.sample((2000,))
    prior = CodeMAF(
        CodeMAFParams(transforms=2, hidden_features=[16], epochs=15, lr=3e-3), latent_dim=2
    )
    prior.fit(train)
    kl = (true.log_prob(test) - prior.log_prob(test)).mean()
    assert float(kl) < 0.05
