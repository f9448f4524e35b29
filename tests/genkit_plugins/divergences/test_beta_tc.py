"""beta_tc: its minibatch-weighted estimates against a direct sum, and its parts against the KL."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import norm
from torch.distributions import Independent, Normal

from genkit_core import DataInfo, SpecError
from genkit_core.testing import check_component
from genkit_plugins.divergences.beta_tc import BetaTC, BetaTCParams, log_weights

N = 1000
INFO = DataInfo((4,), train_size=N)


def _batch(m: int = 6, latent: int = 3):
    torch.manual_seed(0)
    mu, sigma = torch.randn(m, latent), torch.rand(m, latent) + 0.3
    q = Independent(Normal(mu, sigma), 1)
    z = q.sample()
    return q, Independent(Normal(torch.zeros(latent), torch.ones(latent)), 1), z, q.log_prob(z)


def test_keeps_the_divergence_contract():
    check_component(BetaTC, {"beta": 4.0})


def test_parts_sum_to_the_monte_carlo_kl():
    q, p, z, log_q = _batch()
    penalty = BetaTC(BetaTCParams(), INFO).penalty(q, p, z, log_q)
    total = sum(penalty.parts.values())
    assert torch.allclose(total, log_q - p.log_prob(z), atol=1e-5)
    assert torch.allclose(penalty.value, total)
    assert tuple(penalty.parts) == BetaTC.parts


def test_aggregate_posterior_estimates_match_a_direct_sum():
    """log q(z_i) ~ log(1/(NM) sum_m q(z_i|x_m)), per dimension too, computed with SciPy."""
    q, p, z, log_q = _batch()
    parts = BetaTC(BetaTCParams(), INFO).penalty(q, p, z, log_q).parts
    mu, sigma, zs = (t.numpy().astype(np.float64) for t in (q.base_dist.loc, q.base_dist.scale, z))
    m = len(zs)
    dens = norm.pdf(zs[:, None, :], mu[None], sigma[None])  # (i, m, j)
    log_qz = np.log(dens.prod(-1).sum(1) / (N * m))
    log_marginals = np.log(dens.sum(1) / (N * m)).sum(-1)
    mi = log_q.numpy() - log_qz
    tc = log_qz - log_marginals
    np.testing.assert_allclose(parts["mutual_information"].numpy(), mi, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(parts["total_correlation"].numpy(), tc, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(("alpha", "beta", "gamma"), [(1, 1, 1), (0.5, 6, 2), (0, 0, 1)])
def test_the_loss_weighs_each_part(alpha, beta, gamma):
    q, p, z, log_q = _batch()
    div = BetaTC(BetaTCParams(alpha=alpha, beta=beta, gamma=gamma), INFO)
    penalty = div.penalty(q, p, z, log_q)
    parts = penalty.parts
    expected = (
        alpha * parts["mutual_information"]
        + beta * parts["total_correlation"]
        + gamma * parts["dimension_kl"]
    ).mean()
    assert penalty.loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_with_weights_one_it_is_the_monte_carlo_kl_penalty():
    q, p, z, log_q = _batch()
    penalty = BetaTC(BetaTCParams(beta=1.0), INFO).penalty(q, p, z, log_q)
    assert penalty.loss.item() == pytest.approx((log_q - p.log_prob(z)).mean().item(), rel=1e-5)


def test_the_data_set_size_comes_from_the_data():
    q, p, z, log_q = _batch()
    small = BetaTC(BetaTCParams(), DataInfo((4,), train_size=10)).penalty(q, p, z, log_q)
    large = BetaTC(BetaTCParams(), INFO).penalty(q, p, z, log_q)
    shift = math.log(N / 10)  # log q(z) and each log q(z_j) move by -log N
    got = small.parts["mutual_information"] - large.parts["mutual_information"]
    assert torch.allclose(got, torch.full_like(got, -shift), atol=1e-5)


def test_free_bits_are_refused_by_name():
    with pytest.raises(SpecError, match=r"free_bits: beta_tc weighs its three parts"):
        BetaTC(BetaTCParams(free_bits=0.5), INFO)


# --- minibatch-stratified sampling ------------------------------------------------------------


def test_stratified_weights_follow_the_authors_and_each_row_sums_to_one():
    m, n = 5, 1000
    w = log_weights(m, n, "mss", torch.device("cpu")).double().exp()
    expected = np.full((m, m), 1 / (m - 1))
    for i in range(m):
        expected[i, (i + 1) % m] = (n - m + 1) / (n * (m - 1))
        expected[i, i] = 1 / n
    np.testing.assert_allclose(w.numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(w.sum(1).numpy(), np.ones(m), rtol=1e-6)


def test_stratified_estimates_match_a_direct_weighted_sum():
    q, p, z, log_q = _batch()
    params = BetaTCParams(estimator="mss")
    parts = BetaTC(params, INFO).penalty(q, p, z, log_q).parts
    mu, sigma, zs = (t.numpy().astype(np.float64) for t in (q.base_dist.loc, q.base_dist.scale, z))
    m = len(zs)
    w = np.full((m, m), 1 / (m - 1))
    w[np.arange(m), (np.arange(m) + 1) % m] = (N - m + 1) / (N * (m - 1))
    w[np.arange(m), np.arange(m)] = 1 / N
    dens = norm.pdf(zs[:, None, :], mu[None], sigma[None])  # (i, m, j)
    log_qz = np.log((w * dens.prod(-1)).sum(1))
    log_marginals = np.log((w[:, :, None] * dens).sum(1)).sum(-1)
    np.testing.assert_allclose(
        parts["mutual_information"].numpy(), log_q.numpy() - log_qz, rtol=1e-4, atol=1e-4
    )
    np.testing.assert_allclose(
        parts["total_correlation"].numpy(), log_qz - log_marginals, rtol=1e-4, atol=1e-4
    )


def test_with_identical_posteriors_the_stratified_aggregate_is_exact():
    """q(z|x_m) the same for every m: q(z) is that posterior; mss gets it, mws is off by -log N
    (the bias that collapses a beta-TC-VAE on MNIST: see docs/zoo.md)."""
    torch.manual_seed(0)
    q = Independent(Normal(torch.zeros(8, 3), torch.ones(8, 3)), 1)
    z = q.sample()
    log_q = q.log_prob(z)
    exact = BetaTC(BetaTCParams(estimator="mss"), INFO).penalty(q, q, z, log_q).parts
    assert torch.allclose(exact["mutual_information"], torch.zeros(8), atol=1e-5)
    assert torch.allclose(exact["total_correlation"], torch.zeros(8), atol=1e-5)
    weighted = BetaTC(BetaTCParams(estimator="mws"), INFO).penalty(q, q, z, log_q).parts
    assert torch.allclose(weighted["mutual_information"], torch.full((8,), math.log(N)), atol=1e-4)
