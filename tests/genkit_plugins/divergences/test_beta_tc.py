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
from genkit_plugins.divergences.beta_tc import BetaTC, BetaTCParams, log_weights, mws_log_densities

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


# --- the whole data set as the batch: against the exact aggregate posterior --------------------

WHOLE = 7
"""A data set small enough to be the batch; prime, so stepping through it by any k < N visits
every example once (the orders of the stratified test)."""
TOLERANCE = 1e-6
"""Nats, in float64: what the float32 log-weights of mss leave (about 1e-7)."""


def _whole_set(latent: int = 3):
    """N = 7 overlapping posteriors of mixed widths, a draw z_i of each, and the exact
    log q(z_i) and log q(z_ij) of the aggregate posterior."""
    g = torch.Generator().manual_seed(1)
    mu = torch.randn(WHOLE, latent, generator=g, dtype=torch.float64)
    sigma = torch.rand(WHOLE, latent, generator=g, dtype=torch.float64) + 0.2
    q = Independent(Normal(mu, sigma), 1)
    z = q.sample()
    # log q(z) = logsumexp_n log q(z|x_n) - log N, the mixture computed directly
    each = Independent(Normal(mu[None], sigma[None]), 1).log_prob(z[:, None])  # (i, n)
    exact = torch.logsumexp(each, dim=1) - math.log(WHOLE)
    each_dim = Normal(mu[None], sigma[None]).log_prob(z[:, None])  # (i, n, j)
    exact_marginals = torch.logsumexp(each_dim, dim=1) - math.log(WHOLE)
    return q, z, exact, exact_marginals


def test_minibatch_weighted_sampling_of_the_whole_set_is_the_exact_density_less_log_n():
    """At M = N, 1/(NM) sum_m q(z|x_m) is q(z) / N: every log-density sits exactly log N below
    the aggregate posterior's (the paper's and the authors' normalisation). The parts carry
    +log N (mutual information), +(L-1) log N (total correlation) and -L log N (dimension-wise
    KL); they still sum to the KL."""
    q, z, exact, exact_marginals = _whole_set()
    joint, marginals = mws_log_densities(q, z, WHOLE, "mws")
    log_n = math.log(WHOLE)
    torch.testing.assert_close(joint, exact - log_n, atol=TOLERANCE, rtol=0)
    torch.testing.assert_close(marginals, exact_marginals - log_n, atol=TOLERANCE, rtol=0)
    parts = (
        BetaTC(BetaTCParams(), DataInfo((4,), train_size=WHOLE))
        .penalty(
            q, Independent(Normal(torch.zeros(3, dtype=torch.float64), 1.0), 1), z, q.log_prob(z)
        )
        .parts
    )
    exact_tc = exact - exact_marginals.sum(-1)
    torch.testing.assert_close(parts["total_correlation"], exact_tc + 2 * log_n,
                               atol=TOLERANCE, rtol=0)  # fmt: skip


def test_stratified_sampling_of_the_whole_set_is_exact_on_average_over_its_orders():
    """At M = N the stratified weights are not 1/N (1/N for the example itself, 1/(N(N-1)) for
    the next in the batch, 1/(N-1) for the others), so one order of the batch is not exact; but
    which example comes next is uniform over the others when the order is, and the density
    averaged over the orders is the aggregate posterior exactly. Ordering the batch 0, k, 2k,
    ... (mod 7) for k = 1..6 puts each other example next once."""
    q, z, exact, exact_marginals = _whole_set()
    mu, sigma = q.base_dist.loc, q.base_dist.scale
    joints, marginals = [], []
    for k in range(1, WHOLE):
        order = torch.arange(WHOLE) * k % WHOLE
        q_k = Independent(Normal(mu[order], sigma[order]), 1)
        joint, marginal = mws_log_densities(q_k, z[order], WHOLE, "mss")
        joints.append(torch.empty_like(joint).index_copy_(0, order, joint))
        marginals.append(torch.empty_like(marginal).index_copy_(0, order, marginal))
    mean_over_orders = torch.logsumexp(torch.stack(joints), 0) - math.log(WHOLE - 1)
    torch.testing.assert_close(mean_over_orders, exact, atol=TOLERANCE, rtol=0)
    mean_marginals = torch.logsumexp(torch.stack(marginals), 0) - math.log(WHOLE - 1)
    torch.testing.assert_close(mean_marginals, exact_marginals, atol=TOLERANCE, rtol=0)
    assert (joints[0] - exact).abs().max() > 1e-3  # one order alone is not exact
