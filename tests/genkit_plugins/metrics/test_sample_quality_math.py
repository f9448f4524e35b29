"""The Fréchet distance and improved precision and recall against independent computations:
closed forms, scipy's matrix square root, and a brute-force loop of the paper's definition.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from scipy import linalg

from genkit_core import GenkitError
from genkit_plugins.metrics import frechet_distance, gaussian_frechet_distance, precision_recall


@pytest.mark.parametrize(
    ("mu1", "var1", "mu2", "var2"),
    [
        pytest.param([0, 0, 0], [1, 1, 1], [1, 1, 1], [4, 4, 4], id="shift-and-scale"),
        pytest.param([0.5, -2], [0.25, 9], [0.5, -2], [0.25, 9], id="equal"),
        pytest.param([3, 0, 1, 2], [1, 2, 3, 4], [0, 0, 0, 0], [4, 3, 2, 1], id="mixed"),
        pytest.param([1, 1], [0, 1], [0, 1], [1, 0], id="singular"),
    ],
)
def test_diagonal_gaussians_match_the_closed_form(mu1, var1, mu2, var2):
    """For diagonal covariances: |mu1 - mu2|^2 + sum (sqrt(v1) - sqrt(v2))^2."""
    mu1, var1, mu2, var2 = (np.array(v, dtype=np.float64) for v in (mu1, var1, mu2, var2))
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(var1) - np.sqrt(var2)) ** 2).sum()
    got = gaussian_frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2))
    assert got == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_full_covariances_match_scipys_matrix_square_root(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    cov1, cov2 = a @ a.T + np.eye(6), b @ b.T + 0.5 * np.eye(6)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    root = linalg.sqrtm(cov1 @ cov2).real
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(cov1 + cov2 - 2 * root)
    assert gaussian_frechet_distance(mu1, cov1, mu2, cov2) == pytest.approx(expected, rel=1e-9)


def test_fitted_sets_approach_the_closed_form():
    """N(0, I) against N(1, 4I) in 3 dimensions: 1 * 3 + 3 * (1 - 2)^2 = 6."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, (20_000, 3)), rng.normal(1, 2, (20_000, 3))
    assert frechet_distance(a, b) == pytest.approx(6.0, abs=0.15)


def test_identical_sets_are_at_zero_and_a_shift_by_d_at_d_squared():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 8))
    d = rng.normal(size=8)
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-8)
    assert frechet_distance(a, a + d) == pytest.approx((d**2).sum(), rel=1e-8)


def test_fewer_samples_than_dimensions_give_a_real_finite_distance():
    """Covariances of rank 9 in 50 dimensions: scipy's sqrtm of their product is complex or
    fails; the distance stays real, finite and 0 for a set against itself."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(10, 50)), rng.normal(size=(10, 50))
    got = frechet_distance(a, b)
    assert np.isfinite(got) and got >= 0
    assert isinstance(got, float)
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-8)
    # against the FID implementations' patch: eps on the diagonal, the real part
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    eps = 1e-6 * np.eye(50)
    root = linalg.sqrtm((cov_a + eps) @ (cov_b + eps)).real
    patched = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root)
    assert got == pytest.approx(patched, rel=1e-3)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param((1, 4), (5, 4), id="one-row"),
        pytest.param((5, 4), (5, 3), id="other-sizes"),
        pytest.param((5,), (5,), id="not-2d"),
    ],
)
def test_sets_that_cannot_be_compared_are_refused(a, b):
    with pytest.raises(GenkitError, match="at least 2 feature vectors of one size"):
        frechet_distance(np.zeros(a), np.zeros(b))


def _brute_force(real: np.ndarray, generated: np.ndarray, k: int) -> tuple[float, float]:
    """Kynkäänniemi et al.'s definition, one point at a time."""

    def radius(points: np.ndarray, i: int) -> float:
        distances = sorted(np.linalg.norm(points[i] - p) for j, p in enumerate(points) if j != i)
        return distances[k - 1]

    real_radii = [radius(real, i) for i in range(len(real))]
    fake_radii = [radius(generated, i) for i in range(len(generated))]
    precision = np.mean([
        any(np.linalg.norm(g - r) <= rr for r, rr in zip(real, real_radii, strict=True))
        for g in generated
    ])  # fmt: skip
    recall = np.mean([
        any(np.linalg.norm(r - g) <= gr for g, gr in zip(generated, fake_radii, strict=True))
        for r in real
    ])  # fmt: skip
    return float(precision), float(recall)


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("seed", [0, 1])
def test_precision_and_recall_match_a_brute_force_count(k, seed):
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(40, 3))
    generated = rng.normal(1.0, 0.5, size=(30, 3))  # narrower: recall < 1
    got = precision_recall(real, generated, k)
    expected = _brute_force(real, generated, k)
    assert (got["precision"], got["recall"]) == pytest.approx(expected, abs=1e-12)
    assert got["precision"] > 0 and 0 < got["recall"] < 1  # a case that can fail


def test_identical_sets_score_one_and_far_clusters_zero():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(100, 4))
    assert precision_recall(real, real.copy()) == {"precision": 1.0, "recall": 1.0}
    far = precision_recall(real, real + 1000.0)
    assert far == {"precision": 0.0, "recall": 0.0}


def test_duplicated_points_are_inside_each_others_zero_radius():
    """Each point five times (blank images are alike): a point's radius is 0, and a copy of it
    must be inside however |a|^2 + |b|^2 - 2 a.b rounds (a recall of 0.96 here, once)."""
    rng = np.random.default_rng(0)
    for _ in range(5):
        real = np.repeat(rng.normal(size=(10, 50)) * 100 + 37, 5, axis=0)
        shuffled = real[rng.permutation(50)]
        assert precision_recall(real, shuffled) == {"precision": 1.0, "recall": 1.0}


def test_a_subset_is_precise_and_covers_what_its_balls_reach():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(60, 2))
    subset = real[:20]
    got = precision_recall(real, subset, 3)
    assert got["precision"] == 1.0  # every draw is a real point
    assert got["recall"] == pytest.approx(_brute_force(real, subset, 3)[1], abs=1e-12)
    assert got["recall"] < 1


def test_more_points_than_one_block_give_the_same_answer(monkeypatch):
    module = sys.modules["genkit_plugins.metrics.precision_recall"]  # the name is the function's
    rng = np.random.default_rng(0)
    real, generated = rng.normal(size=(50, 3)), rng.normal(0.5, 1, size=(45, 3))
    whole = precision_recall(real, generated)
    monkeypatch.setattr(module, "_ROWS", 7)
    assert precision_recall(real, generated) == whole


def test_too_few_points_for_k_are_refused():
    with pytest.raises(GenkitError, match=r"more than k=3 feature vectors"):
        precision_recall(np.zeros((3, 2)), np.zeros((10, 2)), 3)
