"""Loss curves from ``metrics.csv``: one panel per term, the train and test values per epoch."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from ..errors import RunError
from ..files import read_small_file
from ..run import MAX_METRICS_BYTES
from . import render  # noqa: F401 - selects the Agg backend before pyplot draws

__all__ = ["plot_curves", "read_metrics", "terms"]


def read_metrics(path: Path) -> dict[str, list[float | None]]:
    """The columns of a metrics CSV; blank cells (epochs without a test pass) are None.

    Cells that are not numbers read as None too, and cells past the header are ignored, so a
    damaged row costs its values, not the file.

    Raises:
        RunError: the file is missing, not CSV, has no rows, or is not a regular file of at
            most :data:`MAX_METRICS_BYTES`.
    """
    if not os.path.lexists(path):
        raise RunError(
            f"{path}: no such file; the run was trained without the csv logger "
            "(add logging: [{type: csv}] to the spec)"
        )
    text = read_small_file(path, MAX_METRICS_BYTES).decode("utf-8", errors="replace")
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        rows = list(reader)
    except csv.Error as exc:
        raise RunError(f"{path}: not a readable CSV file ({exc})") from None
    if not rows:
        raise RunError(f"{path}: no rows yet; train at least one epoch")
    keys = [k for k in dict.fromkeys(reader.fieldnames or []) if k]
    return {key: [_number(row.get(key)) for row in rows] for key in keys}


def terms(metrics: dict[str, list[float | None]]) -> list[str]:
    """The loss terms with a train or test column, ``loss`` first (``loss``, ``divergence``...)."""
    found = {k.split("_", 1)[1] for k in metrics if k.startswith(("train_", "test_"))}
    return sorted(found, key=lambda t: (t != "loss", t))


def plot_curves(metrics: dict[str, list[float | None]]) -> Figure:
    """One panel per term: train (solid) and test (dots) against the epoch."""
    names = terms(metrics)
    if not names:
        raise RunError("metrics.csv has no train_ or test_ columns to plot")
    epochs = metrics.get("epoch") or list(range(1, len(next(iter(metrics.values()))) + 1))
    fig, axes = plt.subplots(1, len(names), figsize=(3.6 * len(names), 3.0), squeeze=False)
    for ax, term in zip(axes[0], names, strict=True):
        for split, style in (("train", "-"), ("test", "o-")):
            values = metrics.get(f"{split}_{term}")
            points = [(e, v) for e, v in zip(epochs, values or [], strict=False) if v is not None]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, style, label=split, markersize=3)
        ax.set_title(term, fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel("nats per example")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _number(text: str | None) -> float | None:
    if text is None or text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return None
