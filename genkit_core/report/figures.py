"""Every figure of the report as a :class:`Picture`: PNG bytes with a title and a caption.

The ``genkit plot`` verbs and the report page both draw through :data:`PLOTS` and the
functions here, so a PNG and the page always show the same thing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import torch
from torch import Tensor

from ..errors import GenkitError, RunError
from ..fitted_priors import fitted_priors, load_fitted_prior, prior_in_place
from ..images import as_images, reconstruction_pairs, sample_grid
from ..interfaces import Prior, spec_type
from ..record import read_history
from ..run_metrics import prior_scores
from .curves import plot_curves
from .interpolation import choose_pairs, interpolate
from .latent import plot_latent, project_2d
from .render import figure_png, grid_figure
from .samples import draw_samples
from .traversal import tracked_factors, traverse
from .view import RunView, open_run

__all__ = [
    "PLOTS",
    "Picture",
    "curves_picture",
    "interpolation_picture",
    "latent_picture",
    "prior_pictures",
    "reconstructions_picture",
    "samples_picture",
    "traversal_picture",
]


@dataclass(frozen=True)
class Picture:
    """A figure: its heading, a one-line caption saying what it shows, and the PNG bytes."""

    title: str
    caption: str
    png: bytes


def curves_picture(run_dir: Path) -> Picture:
    """Train and test loss and each of its terms per epoch, from the run's record."""
    fig = plot_curves(read_history(run_dir))
    caption = (
        "Per-example loss and each of its terms (nats) against the epoch: train (line, "
        "averaged over the epoch) and test (dots, at the epoch's end)."
    )
    return Picture("Loss curves", caption, figure_png(fig))


def latent_picture(view: RunView) -> Picture:
    """The test codes in 2-D, coloured by class."""
    codes = view.codes(view.test_x, view.test_y)
    labels = view.class_labels
    projection = project_2d(codes, labels)
    what = "posterior means" if view.model.is_variational else "codes"
    fig = plot_latent(projection, labels, f"{len(codes)} test {what}")
    colour = "coloured by class" if labels is not None else "(no classes to colour by)"
    caption = f"The {what} of {len(codes)} test examples: {projection.how}, {colour}."
    return Picture("Latent space", caption, figure_png(fig))


def interpolation_picture(view: RunView, pairs: int = 6, steps: int = 8) -> Picture:
    """Rows of decoded straight-line paths between pairs of test images, the images at the ends."""
    same = view.model.conditioner is not None
    chosen = choose_pairs(view.class_labels, pairs, same_class=same)
    chosen = [(i, j) for i, j in chosen if max(i, j) < len(view.test_x)]
    if not chosen:
        raise RunError(f"{view.run_dir}: too few test examples to pick a pair to interpolate")
    path = interpolate(view, chosen, steps)
    ends_a = view.test_x[[i for i, _ in chosen]].unsqueeze(1)
    ends_b = view.test_x[[j for _, j in chosen]].unsqueeze(1)
    rows = torch.cat([ends_a, path, ends_b], dim=1)
    images = _images(view, rows.flatten(0, 1))
    cols = ["A", *(f"{t:.2g}" for t in torch.linspace(0, 1, steps).tolist()), "B"]
    fig = grid_figure(images, steps + 2, col_labels=cols)
    held = " (a cvae pairs images of one class and holds it fixed)" if same else ""
    caption = (
        f"Each row: test image A, the decoded codes (1-t) z_A + t z_B for t from 0 to 1, "
        f"and test image B{held}."
    )
    return Picture("Interpolations", caption, figure_png(fig))


def traversal_picture(view: RunView, steps: int = 9) -> Picture:
    """One row per latent dimension, varied over its test range, the others held fixed."""
    codes = view.codes(view.test_x, view.test_y)
    decoded, dims, values = traverse(view, codes, base=0, steps=steps)
    images = _images(view, decoded.flatten(0, 1))
    rows = [
        f"z{u}: {float(v[0]):.2g} to {float(v[-1]):.2g}" for u, v in zip(dims, values, strict=True)
    ]
    tracked = _tracked_factors(view)
    if tracked is not None:
        rows = [
            f"{row}\n{tracked[u][0]} {tracked[u][1]:.2f}" for row, u in zip(rows, dims, strict=True)
        ]
    fig = grid_figure(images, steps, row_labels=rows)
    chosen = (
        "every dimension"
        if len(dims) == codes.shape[1]
        else f"the {len(dims)} most active dimensions"
    )
    caption = (
        f"Each row varies one latent ({chosen} of {codes.shape[1]}) from its 2nd to 98th test "
        "percentile, the others held at the code of the first test image."
    )
    if tracked is not None:
        caption += (
            f" Under each, the factor it tracks: the largest mutual information with it over "
            f"{_FACTOR_DRAWS} draws of the data's factors, as a fraction of the factor's entropy."
        )
    return Picture("Latent traversals", caption, figure_png(fig))


_FACTOR_DRAWS = 5000


@torch.no_grad()
def _tracked_factors(view: RunView) -> list[tuple[str, float]] | None:
    """Per latent dimension, the factor it tracks and how much of it, when the run's data has
    ground-truth factors (:func:`~.traversal.tracked_factors`); None otherwise.
    """
    import numpy as np

    from ..data import data_source
    from ..interfaces import GroundTruthData, Metric
    from ..interfaces.metric import provides_factors

    spec = view.model.spec
    if spec is None or view.model.conditioner is not None:
        return None
    source = data_source(spec)
    if not provides_factors(source):
        return None
    data = cast(GroundTruthData, source)
    rng = np.random.default_rng(0)
    factors = data.sample_factors(_FACTOR_DRAWS, rng)
    codes = torch.cat(
        [
            Metric.codes(
                view.model, data.sample_observations_from_factors(factors[i : i + 500], rng)
            )
            for i in range(0, len(factors), 500)
        ]
    )
    return tracked_factors(codes.cpu().double().numpy(), factors, data.factor_names)


def samples_picture(view: RunView, seed: int = 0) -> Picture:
    """Decoded draws from the prior (per class for a cvae), or from a Gaussian fit for an AE."""
    samples = draw_samples(view, seed=seed)
    images = _images(view, samples.x)
    fig = grid_figure(images, samples.nrow, row_labels=samples.row_labels)
    caption = f"The likelihood's mean at {samples.how}."
    return Picture("Samples", caption, figure_png(fig))


@torch.no_grad()
def prior_pictures(view: RunView, n: int = 36, seed: int = 0) -> list[Picture]:
    """A grid of ``n`` samples for the run's own prior (when it has one) and for each prior
    fitted to it afterwards (``RUN/priors/NAME``), the same seed for each; the title of each is
    its name and, where `eval.json` holds them, its sample-quality scores (`fd`, `fd@NAME`). A
    prior that cannot be loaded gets a picture-less caption saying why.
    """
    model = view.model
    condition = None if view.test_y is None else view.test_y[:1]
    found: list[Picture] = []
    priors: list[tuple[str | None, Prior]] = [] if model.prior is None else [(None, model.prior)]
    for name in fitted_priors(view.run_dir):
        try:
            priors.append((name, load_fitted_prior(model, view.run_dir, name)))
        except GenkitError as exc:
            found.append(Picture(name, f"not drawn: {exc}", b""))
    measured = prior_scores(view.run_dir) if priors else {}
    for label, prior in priors:
        with prior_in_place(model, prior):
            grid = sample_grid(
                model, n, per_class=3, condition=condition, nrow=max(1, math.isqrt(n)), seed=seed
            )
        fig = grid_figure(_images(view, grid.x), grid.nrow)
        title = f"{spec_type(prior)} (the run's own)" if label is None else label
        figures = _quality_line(measured.get(label, {}))
        title = f"{title}: {figures}" if figures else title
        found.append(Picture(title, spec_type(prior), figure_png(fig)))
    return found


_QUALITY = (("fd", "FD {:.2f}"), ("floor", "floor {:.2f}"), ("precision", "precision {:.2f}"),
            ("recall", "recall {:.2f}"))  # fmt: skip
"""The sample-quality scores shown under a prior's samples, in this order, when measured."""


def _quality_line(scores: dict[str, float]) -> str:
    """``FD 31.20, floor 2.10, precision 0.71, recall 0.55`` of what was measured."""
    return ", ".join(form.format(scores[k]) for k, form in _QUALITY if k in scores)


@torch.no_grad()
def reconstructions_picture(view: RunView, n: int = 32) -> Picture:
    """Test images, each followed by the likelihood's mean at its code."""
    y = None if view.test_y is None else view.test_y[:n]
    images = _images(view, reconstruction_pairs(view.model, view.test_x[:n], y))
    fig = grid_figure(images, 16, col_labels=["input", "recon."] * 8)
    caption = (
        "Test images (odd columns), each followed by its reconstruction (the likelihood's mean)."
    )
    return Picture("Reconstructions", caption, figure_png(fig))


def _images(view: RunView, x: Tensor) -> Tensor:
    images = as_images(x, view.info.shape)
    if images is None:
        raise RunError(
            f"{view.run_dir}: the data (shape {view.info.shape}) is not images, so this figure "
            "has nothing to draw"
        )
    return images


PLOTS: dict[str, tuple[str, Callable[[Path, str], Picture]]] = {
    "curves": ("curves.png", lambda run_dir, device: curves_picture(run_dir)),
    "latent": ("latent.png", lambda run_dir, device: latent_picture(open_run(run_dir, device))),
    "interpolate": (
        "interpolation.png",
        lambda run_dir, device: interpolation_picture(open_run(run_dir, device)),
    ),
    "traverse": (
        "traversal.png",
        lambda run_dir, device: traversal_picture(open_run(run_dir, device)),
    ),
}
"""``genkit plot`` verb -> (default file in the run directory, how to draw it from
``(run_dir, device)``)."""
