"""Loss curves from a run's record (:func:`~genkit_core.record.read_history`): one panel per
term, the train and test values per epoch.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from ..errors import RunError
from . import render  # noqa: F401 - selects the Agg backend before pyplot draws

__all__ = ["plot_curves", "terms"]


def terms(metrics: dict[str, list[float | None]]) -> list[str]:
    """The loss terms with a train or test column, ``loss`` first (``loss``, ``divergence``...)."""
    found = {k.split("_", 1)[1] for k in metrics if k.startswith(("train_", "test_"))}
    return sorted(found, key=lambda t: (t != "loss", t))


def plot_curves(metrics: dict[str, list[float | None]]) -> Figure:
    """One panel per term: train (solid) and test (dots) against the epoch."""
    names = terms(metrics)
    if not names:
        raise RunError("the run's record has no train_ or test_ columns to plot")
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
