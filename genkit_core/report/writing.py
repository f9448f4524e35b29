"""``write_report`` and ``write_plot``: what ``genkit report`` and ``genkit plot`` do."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._version import __version__
from ..errors import GenkitError, RunError, with_article
from ..evaluation import DEFAULT_IW_SAMPLES, evaluate_test_split
from ..files import atomic_write
from ..fitted_priors import fitted_priors
from ..run import SPEC, load_run_spec
from .figures import (
    PLOTS,
    Picture,
    curves_picture,
    interpolation_picture,
    latent_picture,
    prior_pictures,
    reconstructions_picture,
    samples_picture,
    traversal_picture,
)
from .page import Section, metrics_table, render_page, side_by_side
from .view import RunView, open_run

__all__ = ["REPORT", "figure_section", "write_plot", "write_report"]

REPORT = "report.html"


def write_report(
    run_dir: str | Path,
    output: str | Path | None = None,
    device: str = "cpu",
    iw_samples: int = DEFAULT_IW_SAMPLES,
) -> Path:
    """Write the run's report page (default ``RUN_DIR/report.html``) and return its path.

    A figure that cannot be drawn (no record of its epochs, data that are not images) becomes a
    one-line note in its section; a run that cannot be loaded is an error.

    Raises:
        RunError: the directory is not a run, or its weights are missing or corrupt.
    """
    run_dir = Path(run_dir)
    spec = load_run_spec(run_dir)
    view = open_run(run_dir, device)
    sections = [
        Section("metrics", "Test metrics", body_html=metrics_table(_metrics(view, iw_samples))),
        figure_section("curves", lambda: curves_picture(run_dir)),
    ]
    if view.model.can_sample or len(view.train_x) > 1:
        sections.append(figure_section("samples", lambda: samples_picture(view)))
    if fitted_priors(run_dir):
        sections.append(_priors_section(view))
    sections += [
        figure_section("reconstructions", lambda: reconstructions_picture(view)),
        figure_section("latent", lambda: latent_picture(view)),
        figure_section("interpolations", lambda: interpolation_picture(view)),
        figure_section("traversals", lambda: traversal_picture(view)),
        Section("spec", "Spec", body_html=_spec_html(run_dir)),
    ]
    title = spec.name or f"{spec.model} on {spec.data.type}"
    subtitle = (
        f"{run_dir} - {with_article(spec.model)} with latent_dim {spec.latent_dim}, trained for "
        f"{spec.train.epochs} epochs; report by genkit {__version__}"
    )
    out = Path(output) if output is not None else run_dir / REPORT
    atomic_write(out, render_page(title, subtitle, sections).encode())
    return out


def write_plot(
    run_dir: str | Path, what: str, output: str | Path | None = None, device: str = "cpu"
) -> Path:
    """Write one figure (``latent``, ``curves``, ``interpolate``, ``traverse``) as a PNG.

    Raises:
        RunError: an unknown figure, not a run, or the figure's inputs are missing.
    """
    if what not in PLOTS:
        raise RunError(f"unknown plot {what!r}; choose one of {', '.join(PLOTS)}")
    run_dir = Path(run_dir)
    load_run_spec(run_dir)  # a clear error for a directory that is not a run
    name, draw = PLOTS[what]
    out = Path(output) if output is not None else run_dir / name
    atomic_write(out, draw(run_dir, device).png)
    return out


def figure_section(anchor: str, draw: Callable[[], Picture]) -> Section:
    """A section holding ``draw()``'s picture, or the one-line reason it could not be drawn."""
    try:
        picture = draw()
    except GenkitError as exc:
        return Section(anchor, anchor.capitalize(), missing=str(exc))
    return Section(anchor, picture.title, picture=picture)


def _priors_section(view: RunView) -> Section:
    """Samples of each prior side by side: the run's own and those fitted afterwards (a run
    without priors fitted afterwards has no such section: its samples are above).
    """
    title = "Samples by prior"
    try:
        pictures = prior_pictures(view)
    except GenkitError as exc:
        return Section("priors", title, missing=str(exc))
    caption = (
        "<p class='caption'>The likelihood's mean at codes drawn from each prior (the same "
        "seed for each): the run's own prior, and each one fitted to its training codes "
        "afterwards by genkit fit-prior (RUN/priors/NAME), named under its grid.</p>"
    )
    return Section("priors", title, body_html=caption + side_by_side(pictures))


def _spec_html(run_dir: Path) -> str:
    import html

    text = (run_dir / SPEC).read_text()
    return (
        "<p class='caption'>The resolved spec the run was trained with (every default "
        f"written out).</p><pre>{html.escape(text)}</pre>"
    )


def _metrics(view: RunView, iw_samples: int) -> dict[str, Any]:
    return evaluate_test_split(view.model, view.data, iw_samples=iw_samples)
