"""Image grids: the pixels torchvision's save_image writes, drawn without it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from genkit_core.images import _grid_pixels, save_grid


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
