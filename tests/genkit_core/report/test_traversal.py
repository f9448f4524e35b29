from __future__ import annotations

import numpy as np
import pytest
import torch

from genkit_core.report.traversal import (
    MAX_ROWS,
    chosen_dimensions,
    tracked_factors,
    traversal_values,
    traverse,
)


def test_every_dimension_of_a_small_latent_and_the_most_varied_of_a_large_one():
    assert chosen_dimensions(torch.randn(50, 4)) == [0, 1, 2, 3]
    scales = torch.ones(20)
    busy = [1, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 19]
    scales[busy] = 10.0
    assert len(busy) == MAX_ROWS
    assert chosen_dimensions(torch.randn(500, 20) * scales) == busy


def test_values_span_the_2nd_to_98th_percentile():
    codes = torch.randn(1000, 3) * torch.tensor([1.0, 2.0, 3.0])
    values = traversal_values(codes, [0, 2], 5)
    low = torch.quantile(codes[:, [0, 2]], 0.02, dim=0)
    high = torch.quantile(codes[:, [0, 2]], 0.98, dim=0)
    torch.testing.assert_close(values[:, 0], low)
    torch.testing.assert_close(values[:, -1], high)
    assert bool((values.diff(dim=1) > 0).all())


def test_a_row_decodes_the_base_code_with_one_dimension_changed(views):
    view = views["cvae"]
    codes = view.codes(view.test_x, view.test_y)
    decoded, dims, values = traverse(view, codes, base=2, steps=4)
    assert dims == [0, 1, 2]
    assert decoded.shape == (3, 4, *view.info.shape)
    z = codes[2].clone()
    z[1] = values[1, 3]
    with torch.no_grad():
        expected = view.model.likelihood.mean(view.model.decode(z[None], view.test_y[2:3]))
    torch.testing.assert_close(decoded[1, 3], expected[0])


def test_each_dimension_is_named_after_the_factor_it_copies():
    rng = np.random.default_rng(0)
    factors = np.stack([rng.integers(3, size=4000), rng.integers(32, size=4000)], axis=1)
    noise = rng.normal(size=4000)
    codes = np.stack([factors[:, 1] + 0.1 * noise, noise, factors[:, 0] * 1.0], axis=1)
    tracked = tracked_factors(codes, factors, ("shape", "posX"))
    assert (tracked[0][0], tracked[2][0]) == ("posX", "shape")
    posx, unrelated, shape = (share for _, share in tracked)
    assert posx > 0.6 and shape == pytest.approx(1.0) and unrelated < 0.05


def test_a_constant_or_diverged_dimension_tracks_nothing():
    factors = np.arange(100)[:, None] % 4
    codes = np.zeros((100, 2))
    codes[3, 1] = np.nan
    assert tracked_factors(codes, factors, ("shape",)) == [("shape", 0.0), ("shape", 0.0)]


def test_on_data_with_factors_each_row_is_labelled_with_the_factor_it_tracks(
    monkeypatch, tmp_path, views
):
    from genkit_core.report import figures, open_run
    from genkit_core.training import Trainer
    from genkit_plugins.data import dsprites

    grid = [np.array([1.0]), np.array([1.0, 2.0, 3.0]), np.array([0.6, 1.0]), np.array([0.0])]
    grid += [np.linspace(0, 1, 4), np.linspace(0, 1, 4)]  # 96 images, 4 factors vary
    monkeypatch.setattr(dsprites, "latents_values_table", lambda: grid)
    spec = {
        "model": "vae",
        "latent_dim": 3,
        "data": {"type": "dsprites", "root": str(tmp_path), "flatten": True, "test_fraction": 0.25},
        "encoder": {"type": "mlp", "hidden": [16]},
        "decoder": {"type": "mlp", "hidden": [16]},
        "likelihood": {"type": "bernoulli"},
        "train": {"epochs": 1, "batch_size": 24, "progress": False},
    }
    Trainer(spec, tmp_path / "run", stream=None).fit()
    view = open_run(tmp_path / "run")
    tracked = figures._tracked_factors(view)
    assert tracked is not None and len(tracked) == 3
    assert all(name in ("shape", "scale", "posX", "posY") and 0 <= s <= 1 for name, s in tracked)
    assert "the factor it tracks" in figures.traversal_picture(view, steps=3).caption
    assert figures._tracked_factors(views["vae"]) is None  # digits have no factors
