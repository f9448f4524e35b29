"""mmd against a direct O(n^2) double loop; near zero for prior samples, larger when shifted."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Independent, Normal

from genkit_core import SpecError
from genkit_plugins.divergences.mmd import MMD, MMDParams


def _standard(latent: int) -> Independent:
    return Independent(Normal(torch.zeros(latent), torch.ones(latent)), 1)


def _direct_mmd(z, prior, kernel, scale):
    """The unbiased MMD^2 by explicit loops over pairs (a list of scales: a sum of kernels)."""
    n, latent = z.shape
    hs = [2 * latent * s**2 for s in (scale if isinstance(scale, list) else [scale])]

    def k(a, b):
        d = float(((a - b) ** 2).sum())
        if kernel == "rbf":
            return sum(torch.exp(torch.tensor(-d / h)) for h in hs)
        return sum(torch.tensor(h / (h + d)) for h in hs)

    qq = sum(k(z[i], z[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    pp = sum(k(prior[i], prior[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    qp = sum(k(z[i], prior[j]) for i in range(n) for j in range(n)) / n**2
    return qq + pp - 2 * qp


@pytest.mark.parametrize("kernel", ["rbf", "imq"])
@pytest.mark.parametrize("scale", [0.5, 2.0, [0.1**0.5, 1.0, 10**0.5]])
def test_matches_the_direct_double_sum(kernel, scale):
    z = torch.randn(12, 3).double() + 0.5
    mmd = MMD(MMDParams(kernel=kernel, scale=scale))
    torch.manual_seed(7)
    value = mmd(None, _standard(3), z, torch.zeros(len(z)))
    torch.manual_seed(7)
    prior = _standard(3).sample((12,)).double()
    assert value.shape == (12,) and torch.all(value == value[0])
    assert torch.allclose(value[0], _direct_mmd(z, prior, kernel, scale).double(), atol=1e-10)


@pytest.mark.parametrize("kernel", ["rbf", "imq"])
def test_is_near_zero_for_prior_samples_and_grows_with_a_shift(kernel):
    mmd = MMD(MMDParams(kernel=kernel))
    p = _standard(4)
    values = [
        float(mmd(None, p, p.sample((256,)) + shift, torch.zeros(256))[0])
        for shift in (0.0, 0.5, 2.0)
    ]
    assert abs(values[0]) < 0.01
    assert values[0] < values[1] < values[2]


def test_is_not_a_kl_and_refuses_free_bits():
    assert not MMD.is_kl
    with pytest.raises(SpecError, match="free_bits needs a divergence that splits"):
        MMD(MMDParams(free_bits=0.5))


def test_several_scales_sum_their_kernels_and_are_validated():
    z, prior = torch.randn(10, 4).double(), torch.randn(10, 4).double()
    from genkit_plugins.divergences.mmd import kernel

    both = kernel(z, prior, "imq", [0.5, 2.0])
    assert torch.allclose(both, kernel(z, prior, "imq", 0.5) + kernel(z, prior, "imq", 2.0))
    for bad in ([], [1.0, -1.0], [1.0] * 17):
        with pytest.raises(ValueError, match="scale"):
            MMDParams(scale=bad)
