r"""The whole two-layer hierarchy against a linear-Gaussian model, where everything is closed form.

p(z2) = N(0, I), p(z1|z2) = N(A z2 + a, s1^2 I), p(x|z1) = N(W z1 + b, s^2 I), so z = (z1, z2)
and x are jointly Gaussian: p(x) = N(W a + b, W C1 W^T + s^2 I) with C1 = A A^T + s1^2 I. A and
W have orthogonal columns and A A^T is diagonal, so the true posterior
p(z1, z2 | x) = p(z1|x) p(z2|z1) has diagonal-Gaussian factors with means linear in their
parents: exactly the family q(z1|x) q(z2|z1) with linear layers. Every q and p here is also a
joint Gaussian over (z1, z2), whose densities and KLs torch.distributions computes on its own.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn
from torch.distributions import MultivariateNormal, kl_divergence

from genkit_core import DataInfo, ObjectiveParams
from genkit_core.evaluation import evaluate, iw_log_likelihood, negative_elbo_terms
from genkit_core.model import LatentVariableModel
from genkit_plugins.divergences.gaussian_kl import GaussianKL
from genkit_plugins.likelihoods.gaussian import Gaussian
from genkit_plugins.likelihoods.location_scale import LocationScaleParams
from genkit_plugins.networks.mlp import MLPDecoder, MLPEncoder, MLPParams
from genkit_plugins.objectives.elbo import ELBO
from genkit_plugins.posteriors.hierarchical import (
    HierarchicalParams,
    HierarchicalPosterior,
    LayerParams,
)
from genkit_plugins.priors.hierarchical import HierarchicalPrior, HierarchicalPriorParams

D, L1, L2 = 4, 3, 2
S, S1 = 0.5, 0.7  # the noise of x given z1, and of z1 given z2
F64 = torch.float64
A = torch.tensor([[1.5, 0.0], [0.0, -0.8], [0.0, 0.0]], dtype=F64)  # A A^T, A^T A diagonal
A0 = torch.tensor([0.2, -0.1, 0.3], dtype=F64)
Q = torch.linalg.qr(torch.tensor([[1.0, 2, 0, 1], [0, 1, 1, 0], [1, 0, 1, 2], [2, 1, 0, 1]]))[0]
W = Q[:, :L1].to(F64) * torch.tensor([2.0, 1.0, 0.5], dtype=F64)  # W^T W diagonal
B = torch.tensor([0.1, -0.2, 0.3, 0.0], dtype=F64)


def _true_posterior() -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """p(z1|x) = N(G1 x + c1, V1) and p(z2|z1) = N(G2 z1 + c2, V2), V diagonal (as vectors)."""
    c_1 = A @ A.T + S1**2 * torch.eye(L1, dtype=F64)
    v1 = 1 / (1 / c_1.diagonal() + (W.T @ W).diagonal() / S**2)
    g1 = v1[:, None] * W.T / S**2
    c1 = v1 * (A0 / c_1.diagonal()) - g1 @ B
    v2 = 1 / (1 + (A.T @ A).diagonal() / S1**2)
    g2 = v2[:, None] * A.T / S1**2
    return g1, c1, v1, g2, -g2 @ A0, v2


def _set(layer: nn.Module, gain: Tensor, offset: Tensor, variance: Tensor) -> None:
    """A linear Gaussian layer: mean gain @ v + offset, constant variance."""
    n = len(offset)
    with torch.no_grad():
        linear = layer.net[0]
        linear.weight.zero_()
        linear.weight[:n] = gain
        linear.bias[:n] = offset
        linear.bias[n:] = variance.log()


def _model(exact: bool) -> LatentVariableModel:
    layer = LayerParams(latent_dim=L2, hidden=[])
    posterior = HierarchicalPosterior(HierarchicalParams(layers=[layer]), (D,), L1)
    likelihood = Gaussian(
        LocationScaleParams(variance="shared", min_scale=1e-9, activation="identity"), (D,)
    )
    linear = MLPParams(hidden=[])  # the encoder is then the identity, the decoder one layer
    model = LatentVariableModel(
        "vae", L1, DataInfo((D,)), MLPEncoder(linear, (D,)), posterior,
        MLPDecoder(linear, L1, (1, D)), likelihood, ELBO(ObjectiveParams(), L1),
        HierarchicalPrior(HierarchicalPriorParams(), L1), GaussianKL(GaussianKL.Params()),
    )  # fmt: skip
    model.double()
    g1, c1, v1, g2, c2, v2 = _true_posterior()
    if not exact:  # a wrong offset, gain and variance in each layer
        c1, v1, g2, v2 = c1 + 0.2, v1 * 1.5, g2 * 0.8, v2 * 1.5
    _set(posterior.bottom, g1, c1, v1)
    _set(posterior.upward[0], g2, c2, v2)
    _set(model.prior.downward[0], A, A0, torch.full((L1,), S1**2, dtype=F64))
    with torch.no_grad():
        model.decoder.net[0].weight.copy_(W)
        model.decoder.net[0].bias.copy_(B)
        likelihood.log_scale.fill_(math.log(S - 1e-9))
    return model.eval()


def _chain(mean1: Tensor, v1: Tensor, gain: Tensor, offset: Tensor, v2: Tensor):
    """The joint Gaussian of (u, w) for u ~ N(mean1, diag v1), w | u ~ N(gain u + offset, v2)."""
    n = len(v1)
    cov = torch.block_diag(torch.diag(v1), torch.diag(v2))
    cov[n:, :n] = gain @ torch.diag(v1)
    cov[:n, n:] = cov[n:, :n].T
    cov[n:, n:] += gain @ torch.diag(v1) @ gain.T
    mean = torch.cat([mean1, mean1 @ gain.T + offset], -1)
    return MultivariateNormal(mean, cov)


def _joint_q(x: Tensor, exact: bool) -> MultivariateNormal:
    g1, c1, v1, g2, c2, v2 = _true_posterior()
    if not exact:
        c1, v1, g2, v2 = c1 + 0.2, v1 * 1.5, g2 * 0.8, v2 * 1.5
    return _chain(x @ g1.T + c1, v1, g2, c2, v2)


def _joint_p() -> MultivariateNormal:
    """p(z1, z2), from z2 ~ N(0, I) and z1 | z2 ~ N(A z2 + a, s1^2 I), reordered to (z1, z2)."""
    top_first = _chain(torch.zeros(L2, dtype=F64), torch.ones(L2, dtype=F64), A, A0,
                       torch.full((L1,), S1**2, dtype=F64))  # fmt: skip
    order = torch.cat([torch.arange(L2, L1 + L2), torch.arange(L2)])
    cov = top_first.covariance_matrix[order][:, order]
    return MultivariateNormal(top_first.mean[order], cov)


def _log_px(x: Tensor) -> Tensor:
    c_1 = A @ A.T + S1**2 * torch.eye(L1, dtype=F64)
    cov = W @ c_1 @ W.T + S**2 * torch.eye(D, dtype=F64)
    return MultivariateNormal(W @ A0 + B, cov).log_prob(x)


def _data(n: int = 6) -> Tensor:
    g = torch.Generator().manual_seed(0)
    z2 = torch.randn(n, L2, generator=g, dtype=F64)
    z1 = z2 @ A.T + A0 + S1 * torch.randn(n, L1, generator=g, dtype=F64)
    return z1 @ W.T + B + S * torch.randn(n, D, generator=g, dtype=F64)


def _noise(*shape: int, seed: int = 1) -> Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


@pytest.mark.parametrize("exact", [True, False], ids=["true-posterior", "wrong-posterior"])
def test_every_density_is_the_joint_gaussians(exact):
    model, x = _model(exact), _data()
    draw = model.posterior.sample(model.posterior_of(x), _noise(5, len(x), L1 + L2))
    assert torch.allclose(draw.log_q, _joint_q(x, exact).log_prob(draw.z), atol=1e-10)
    assert torch.allclose(model.prior.log_prob(draw.z), _joint_p().log_prob(draw.z), atol=1e-10)


def test_with_the_true_posterior_the_elbo_and_every_iw_bound_are_log_px():
    model, x = _model(exact=True), _data()
    exact = _log_px(x)
    for k in (1, 7):
        iw = iw_log_likelihood(model, x, None, k, torch.Generator().manual_seed(k))
        assert torch.allclose(iw, exact, atol=1e-8)
    terms = negative_elbo_terms(model, x, None, _noise(len(x), L1 + L2))  # one draw: MC KL
    assert torch.allclose(-(terms["reconstruction"] + terms["kl"]), exact, atol=1e-8)


def test_the_monte_carlo_kl_averages_to_the_exact_kl_of_the_hierarchy():
    model, x = _model(exact=False), _data()
    n = 20_000
    terms = negative_elbo_terms(model, x.repeat(n, 1), None, _noise(n * len(x), L1 + L2))
    kl = terms["kl"].view(n, len(x))
    exact_kl = kl_divergence(_joint_q(x, exact=False), _joint_p())
    assert torch.all((kl.mean(0) - exact_kl).abs() < 4 * kl.std(0) / n**0.5)
    # and the ELBO is log p(x) less the KL from q to the true posterior, in expectation
    elbo = -(terms["reconstruction"].view(n, len(x)) + kl)
    gap = kl_divergence(_joint_q(x, exact=False), _joint_q(x, exact=True))
    assert torch.all((elbo.mean(0) - (_log_px(x) - gap)).abs() < 4 * elbo.std(0) / n**0.5)
    assert torch.all(gap > 0.5)  # the posterior is wrong enough for the check to mean something


def test_the_importance_weighted_bound_converges_to_log_px():
    model, x = _model(exact=False), _data()
    few = iw_log_likelihood(model, x.repeat(400, 1), None, 5, torch.Generator().manual_seed(0))
    few = few.view(400, len(x))  # 400 independent K = 5 estimates: below log p(x) on average
    assert torch.all(few.mean(0) + 4 * few.std(0) / 400**0.5 < _log_px(x))
    many = iw_log_likelihood(model, x, None, 20_000, torch.Generator().manual_seed(0), 1 << 16)
    assert torch.allclose(many, _log_px(x), atol=0.05)  # K = 5 falls 0.1 to 0.35 nats short


def test_evaluate_reports_the_exact_likelihood_for_the_true_posterior():
    model, x = _model(exact=True).float(), _data().float()
    report = evaluate(model, [(x[:3], None), (x[3:], None)], iw_samples=50)
    assert report["iw_nll"] == pytest.approx(float(-_log_px(x.double()).mean()), abs=1e-4)
    assert report["negative_elbo"] == pytest.approx(report["iw_nll"], abs=1e-4)
    assert report["latent_units"] == L1 + L2 and report["latent_dim"] == L1
