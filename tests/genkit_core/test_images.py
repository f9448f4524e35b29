"""images.py: the one sample grid and set of input / reconstruction pairs that the epoch's
pictures, genkit sample, reconstruct and report draw, and the grid's pixels (torchvision's
save_image's, drawn without it)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from genkit_core import build_model
from genkit_core.images import _grid_pixels, reconstruction_pairs, sample_grid, save_grid
from genkit_core.testing import tiny_spec


def _torchvision_pixels(images: torch.Tensor, nrow: int) -> np.ndarray:
    from torchvision.utils import make_grid

    side = images.shape[-1]
    if side < 32:
        images = torch.nn.functional.interpolate(images, scale_factor=32 // side, mode="nearest")
    grid = make_grid(images, nrow=nrow, padding=2, pad_value=1.0)
    return grid.mul(255).add_(0.5).clamp_(0, 255).permute(1, 2, 0).to(torch.uint8).numpy()


@pytest.mark.parametrize(
    ("n", "channels", "side", "nrow"),
    [(64, 1, 28, 8), (32, 1, 28, 16), (5, 3, 32, 8), (1, 1, 28, 8), (10, 3, 8, 4), (3, 1, 40, 8)],
)
def test_the_grid_is_torchvisions(n, channels, side, nrow):
    images = torch.rand(n, channels, side, side, generator=torch.Generator().manual_seed(n))
    np.testing.assert_array_equal(_grid_pixels(images, nrow), _torchvision_pixels(images, nrow))


def test_save_grid_writes_the_pixels_as_png(tmp_path):
    images = torch.rand(12, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    save_grid(tmp_path / "g.png", images, nrow=6)
    with Image.open(tmp_path / "g.png") as png:
        assert png.format == "PNG" and png.mode == "RGB"
        np.testing.assert_array_equal(np.asarray(png), _torchvision_pixels(images, 6))


def _model(**sections):
    return build_model(tiny_spec(**sections)).eval()


@pytest.fixture(scope="module")
def cvae():
    return _model(model="cvae")


@pytest.fixture(scope="module")
def vae():
    return _model()


def test_an_unconditioned_model_draws_n_nrow_to_a_row(vae):
    grid = sample_grid(vae, n=12, nrow=4, seed=3)
    torch.manual_seed(3)
    assert torch.equal(grid.x, vae.sample(12))
    assert grid.labels is None and grid.nrow == 4


def test_a_cvae_of_classes_draws_a_row_per_class(cvae):
    grid = sample_grid(cvae, n=5, per_class=3, seed=0)
    classes = cvae.data_info.num_classes
    expected = torch.tensor([c for c in range(classes) for _ in range(3)])
    assert torch.equal(grid.labels, expected) and grid.nrow == 3
    torch.manual_seed(0)
    assert torch.equal(grid.x, cvae.sample(3 * classes, expected))


def test_one_label_draws_n_of_that_class(cvae):
    grid = sample_grid(cvae, n=6, label=2, nrow=6)
    assert grid.x.shape[0] == 6 and grid.nrow == 6
    assert torch.equal(grid.labels, torch.full((6,), 2))


@pytest.mark.parametrize("label", [-1, 10])
def test_a_label_that_is_no_class_is_refused(cvae, label):
    with pytest.raises(ValueError, match=f"label {label} is not a class: they are 0 to 9"):
        sample_grid(cvae, label=label)


def test_a_label_for_a_model_without_classes_is_refused(vae):
    with pytest.raises(ValueError, match="a label needs a cvae of classes"):
        sample_grid(vae, label=0)


def test_a_seed_repeats_the_draw_and_leaves_the_random_state_alone(vae):
    torch.manual_seed(11)
    state = torch.get_rng_state()
    first = sample_grid(vae, n=4, seed=1, mean=False).x
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(first, sample_grid(vae, n=4, seed=1, mean=False).x)
    assert not torch.equal(first, sample_grid(vae, n=4, seed=2, mean=False).x)


def test_an_ae_without_a_prior_leaves_the_choice_to_the_caller():
    ae = _model(model="ae")
    assert not ae.can_sample
    with pytest.raises(TypeError, match="no prior to sample from"):
        sample_grid(ae)


def test_a_cvae_of_vectors_draws_with_the_given_condition(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.random((40, 16), dtype=np.float32), rng.random((40, 2), dtype=np.float32)
    np.savez(tmp_path / "v.npz", x_train=x[:32], y_train=y[:32], x_test=x[32:], y_test=y[32:])
    model = _model(
        model="cvae", latent_dim=2, likelihood={"type": "mse"},
        data={"type": "tensor_file", "path": str(tmp_path / "v.npz")},
    )  # fmt: skip
    condition = torch.tensor([0.25, 0.5])
    grid = sample_grid(model, n=5, condition=condition[None], seed=0)
    assert grid.labels.shape == (5, 2) and torch.equal(grid.labels[3], condition)
    torch.manual_seed(0)
    assert torch.equal(grid.x, model.sample(5, condition.expand(5, 2)))
    own = torch.rand(5, 2)
    assert torch.equal(sample_grid(model, n=5, condition=own).labels, own)
    with pytest.raises(ValueError, match="conditioned on vectors: give a condition"):
        sample_grid(model)
    with pytest.raises(ValueError, match=r"shape \(3, 2\) for 5 samples: give \(C,\), \(1, C\)"):
        sample_grid(model, n=5, condition=torch.rand(3, 2))


def test_pairs_interleave_each_input_with_its_reconstruction(cvae, vae):
    x = torch.rand(3, *cvae.data_info.shape)
    y = torch.tensor([1, 4, 7])
    pairs = reconstruction_pairs(cvae, x, y)
    assert pairs.shape == (6, *x.shape[1:])
    assert torch.equal(pairs[0::2], x)
    assert torch.equal(pairs[1::2], cvae.reconstruct(x, y))
    assert not torch.equal(pairs[1::2], cvae.reconstruct(x, torch.tensor([0, 0, 0])))
    # a model without a conditioner ignores the labels it is given
    assert torch.equal(reconstruction_pairs(vae, x, y), reconstruction_pairs(vae, x))
