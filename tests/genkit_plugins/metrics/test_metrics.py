"""Each disentanglement metric on codes with a known answer, and its parts against references."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import entropy  # type: ignore[import-untyped]

from genkit_core import GenkitError
from genkit_plugins.metrics import (
    beta_vae_score,
    dci,
    factor_vae_score,
    histogram_discretize,
    mig,
    sap,
)
from genkit_plugins.metrics._sampling import discrete_entropy, discrete_mutual_info
from genkit_plugins.metrics.dci import completeness, disentanglement

from .conftest import ProductFactors


def _rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _scores(metric, data, codes, key, **params) -> dict[str, float]:
    return {name: metric(data, f, _rng(), **params)[key] for name, f in codes.items()}


def test_mig_is_one_for_the_factors_lower_rotated_and_zero_for_noise(data, codes):
    s = _scores(mig, data, codes, "discrete_mig", num_train=3000)
    assert s["factors"] > 0.95
    assert s["rotated"] < s["factors"] - 0.3
    assert s["one_ignored"] == pytest.approx(s["factors"] * 2 / 3, abs=0.05)
    assert s["noise"] < 0.05


def test_factor_vae_score_is_one_for_the_factors_and_chance_for_noise(data, codes):
    params = dict(num_train=150, num_eval=100, num_variance_estimate=1000)
    s = _scores(factor_vae_score, data, codes, "eval_accuracy", **params)
    assert s["factors"] == 1.0
    assert s["rotated"] < 0.8
    # the ignored factor's votes go to any of the 3 dimensions: (2 + 1/3) / 3 right
    assert s["one_ignored"] == pytest.approx(7 / 9, abs=0.1)
    assert s["noise"] < 0.5


def test_factor_vae_score_prunes_collapsed_dimensions(data):
    def collapsed(x: np.ndarray) -> np.ndarray:
        return np.c_[x, np.zeros(len(x)) + 0.01 * np.arange(len(x)) % 2 * 0.001]

    scores = factor_vae_score(data, collapsed, _rng(), num_train=50, num_eval=50)
    assert scores["num_active_dims"] == 3 and scores["eval_accuracy"] == 1.0
    dead = factor_vae_score(data, lambda x: 0 * x, _rng(), num_train=5, num_eval=5)
    assert dead == {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0.0}


def test_beta_vae_score_is_one_for_the_factors_and_chance_for_noise(data, codes):
    s = _scores(beta_vae_score, data, codes, "eval_accuracy", num_train=300, num_eval=150)
    assert s["factors"] == 1.0
    assert s["rotated"] < 0.8  # the fixed factor no longer zeroes one difference
    assert s["noise"] < 0.45


@pytest.mark.slow  # 9 fits of 100-stage boosted trees: 2 to 8 s on 2 busy cores
@pytest.mark.parametrize("data", [ProductFactors((2, 3, 2))], ids=["2x3x2"])  # few classes
def test_dci_separates_the_factors_from_their_rotation_and_from_noise(data, codes):
    s = {
        name: dci(data, f, _rng(), num_train=200, num_test=100)
        for name, f in codes.items()
        if name != "one_ignored"
    }
    assert s["factors"]["disentanglement"] > 0.9 and s["factors"]["completeness"] > 0.9
    assert s["factors"]["informativeness_test"] > 0.95
    assert s["rotated"]["disentanglement"] < 0.5 and s["rotated"]["completeness"] < 0.5
    assert s["rotated"]["informativeness_test"] > 0.8  # still informative, only mixed
    assert s["noise"]["informativeness_test"] < 0.45
    assert s["noise"]["disentanglement"] < 0.1


def test_sap_is_high_for_the_factors_lower_rotated_and_zero_for_noise(data, codes):
    s = _scores(sap, data, codes, "sap_score", num_train=600, num_test=300)
    # a 1-d linear SVM with C = 0.01 tells few of 4 or 5 classes apart: the factors' SAP is low
    assert s["factors"] > 0.2
    assert s["rotated"] < 0.1
    assert s["noise"] < 0.05


def test_sap_with_continuous_factors_is_the_squared_correlation_gap(data, codes):
    s = _scores(sap, data, codes, "sap_score", num_train=2000, num_test=10, continuous_factors=True)
    assert s["factors"] > 0.9 and s["noise"] < 0.01  # r^2 = 1 but for the observations' noise


def test_a_representation_may_return_tensors(data):
    import torch

    as_numpy = mig(data, lambda x: x, _rng(), num_train=200)
    as_tensor = mig(data, lambda x: torch.from_numpy(x).float(), _rng(), num_train=200)
    assert as_tensor == pytest.approx(as_numpy, abs=1e-6)


@pytest.mark.parametrize(
    ("representation", "message"),
    [
        pytest.param(lambda x: x[:, :1], r"MIG compares .* has 1; it needs at least 2", id="1-d"),
        pytest.param(lambda x: x * np.nan, r"non-finite codes", id="nan"),
        pytest.param(lambda x: x[:-1], r"codes of shape \(15, 3\) for 16 observations", id="short"),
    ],
)
def test_a_bad_representation_is_a_genkit_error_naming_the_problem(data, representation, message):
    with pytest.raises(GenkitError, match=message):
        mig(data, representation, _rng(), num_train=40)


def test_discrete_mutual_information_matches_the_entropy_formula():
    rng = np.random.default_rng(3)
    y = rng.integers(3, size=(500, 2))
    z = np.c_[y[:, 0] + rng.integers(2, size=500), rng.integers(4, size=500)]

    def h(*columns: np.ndarray) -> float:
        _, counts = np.unique(np.stack(columns, axis=1), axis=0, return_counts=True)
        return float(entropy(counts))

    want = [[h(z[:, i]) + h(y[:, j]) - h(z[:, i], y[:, j]) for j in range(2)] for i in range(2)]
    np.testing.assert_allclose(discrete_mutual_info(z, y), want, atol=1e-12)
    np.testing.assert_allclose(discrete_entropy(y), [h(y[:, 0]), h(y[:, 1])])


def test_the_histogram_has_num_bins_equal_bins_from_min_to_max():
    codes = np.random.default_rng(4).normal(size=(300, 2)) ** 3
    bins = histogram_discretize(codes, num_bins=20)
    low, high = codes.min(0), codes.max(0)
    want = np.minimum(np.floor((codes - low) / (high - low) * 20), 19) + 1
    np.testing.assert_array_equal(bins, want)


@pytest.mark.parametrize(
    ("matrix", "d", "c"),
    [
        pytest.param(np.eye(3), 1.0, 1.0, id="diagonal"),
        pytest.param(np.ones((3, 3)), 0.0, 0.0, id="uniform"),
        pytest.param(np.array([[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]]), 0.0, 1.0, id="one-code"),
    ],
)
def test_disentanglement_and_completeness_of_known_matrices(matrix, d, c):
    assert disentanglement(matrix) == pytest.approx(d, abs=1e-6)
    assert completeness(matrix) == pytest.approx(c, abs=1e-6)


def test_disentanglement_and_completeness_match_scipys_entropy():
    r = np.random.default_rng(2).random((4, 3))
    per_code = 1 - entropy(r.T + 1e-11, base=3)
    per_factor = 1 - entropy(r + 1e-11, base=4)
    assert disentanglement(r) == pytest.approx(np.sum(per_code * r.sum(1) / r.sum()))
    assert completeness(r) == pytest.approx(np.sum(per_factor * r.sum(0) / r.sum()))


def test_the_metrics_read_dsprites_factors(monkeypatch, tmp_path):
    import torch

    from genkit_plugins.data import dsprites

    grid = [np.array([1.0]), np.array([1.0, 2.0, 3.0]), np.array([0.6, 1.0]), np.array([0.0])]
    grid += [np.linspace(0, 1, 4), np.linspace(0, 1, 4)]  # 96 images, 4 factors vary
    monkeypatch.setattr(dsprites, "latents_values_table", lambda: grid)
    data = dsprites.DSprites(dsprites.DSpritesParams(root=str(tmp_path)))

    def centroid_and_area(images: torch.Tensor) -> np.ndarray:
        x = images[:, 0].double() / 255
        area = x.sum((1, 2))
        pixels = torch.arange(64.0, dtype=torch.float64)
        col = (x.sum(1) * pixels).sum(1) / area
        row = (x.sum(2) * pixels).sum(1) / area
        return torch.stack([area, col, row], 1).numpy()

    info = discrete_mutual_info(
        histogram_discretize(centroid_and_area(data.images(np.arange(96)))),
        data.latents_classes(np.arange(96))[:, [2, 4, 5]],
    )
    assert info.argmax(axis=0).tolist() == [0, 1, 2]  # area ~ scale, column ~ posX, row ~ posY
    score = mig(data, centroid_and_area, _rng(), num_train=500)["discrete_mig"]
    assert 0.3 < score < 1  # posX and posY have their own code; shape and scale share the area
