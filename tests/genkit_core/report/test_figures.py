from __future__ import annotations

import dataclasses
import io

import pytest
from PIL import Image

from genkit_core.errors import RunError
from genkit_core.report import figures

DRAWN_FROM_A_VIEW = {
    "samples": figures.samples_picture,
    "reconstructions": figures.reconstructions_picture,
    "latent": figures.latent_picture,
    "interpolations": figures.interpolation_picture,
    "traversals": figures.traversal_picture,
}


def _size(png: bytes) -> tuple[int, int]:
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    return image.size


@pytest.mark.parametrize("kind", ["ae", "vae", "cvae"])
@pytest.mark.parametrize("name", list(DRAWN_FROM_A_VIEW))
def test_each_figure_is_a_png_of_sensible_size(views, kind, name):
    picture = DRAWN_FROM_A_VIEW[name](views[kind])
    width, height = _size(picture.png)
    assert 150 <= width <= 2500 and 60 <= height <= 2500, (width, height)
    assert picture.title and picture.caption.endswith(".")


@pytest.mark.parametrize("kind", ["ae", "vae", "cvae"])
def test_the_curves_of_each_kind(trained_runs, kind):
    picture = figures.curves_picture(trained_runs[kind])
    width, height = _size(picture.png)
    panels = 1 + (kind == "ae") * 1 + (kind != "ae") * 2  # loss, reconstruction[, divergence]
    assert width >= 250 * panels and 150 <= height <= 600


def test_an_ae_says_its_samples_are_not_from_a_prior(views):
    assert "an AE has no prior" in figures.samples_picture(views["ae"]).caption


def test_data_that_are_not_images_cannot_be_drawn(views):
    view = views["vae"]
    flat = dataclasses.replace(view, train_y=None)
    info = view.model.data_info
    try:
        view.model.data_info = type(info)(
            (7, 9, 1), info.num_classes, info.condition_dim, info.name
        )
        with pytest.raises(RunError, match=r"not images"):
            figures.reconstructions_picture(flat)
    finally:
        view.model.data_info = info
