"""The loss curves of several configurations overlaid: per term, one line per configuration.

A configuration's line is the mean over its runs, epoch by epoch, of the test value (the train
value where a run has no test column), with a band of one standard deviation when it has
several runs.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from ..errors import GenkitError, RunError
from ..record import RECORD, read_history
from ..report import render  # noqa: F401 - selects the Agg backend before pyplot draws
from ..report.curves import terms
from .table import Row, Stat

__all__ = ["plot_overlaid_curves"]

Series = dict[str, list[tuple[float, Stat]]]  # term -> [(epoch, statistics over runs)]


def plot_overlaid_curves(table: list[Row]) -> Figure:
    """One panel per term, one line (and band) per configuration, labelled C1, C2, ...

    Raises:
        RunError: no run has a record (``history.jsonl``) with rows.
    """
    series = [_series(row) for row in table]
    names = sorted({t for s in series for t in s}, key=lambda t: (t != "loss", t))
    if not names:
        raise RunError(f"no run has a {RECORD} to draw curves from")
    fig, axes = plt.subplots(1, len(names), figsize=(3.8 * len(names), 3.3), squeeze=False)
    colours = plt.get_cmap("tab10" if len(table) <= 10 else "tab20")
    for ax, term in zip(axes[0], names, strict=True):
        for i, s in enumerate(series):
            points = s.get(term, [])
            if not points:
                continue
            xs = [e for e, _ in points]
            means = [st.mean for _, st in points]
            colour = colours(i % colours.N)
            ax.plot(xs, means, "-", color=colour, label=f"C{i + 1}", linewidth=1.4)
            spread = [st.std for _, st in points]
            if all(v is not None for v in spread):
                lo = [m - v for m, v in zip(means, spread, strict=True)]  # type: ignore[operator]
                hi = [m + v for m, v in zip(means, spread, strict=True)]  # type: ignore[operator]
                ax.fill_between(xs, lo, hi, color=colour, alpha=0.15, linewidth=0)
        ax.set_title(f"test {term}", fontsize=10)
        ax.set_xlabel("epoch")
        ax.set_ylabel("nats per example")
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 8), fontsize=8,
               bbox_to_anchor=(0.5, -0.02))  # fmt: skip
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def _series(row: Row) -> Series:
    """Per term, the statistics over the configuration's runs at each epoch they all reached."""
    runs = []
    for run in row.configuration.runs:
        try:
            runs.append(read_history(run.run_dir))
        except GenkitError:
            continue
    out: Series = {}
    for term in sorted({t for m in runs for t in terms(m)}):
        by_epoch: dict[float, list[float]] = {}
        for metrics in runs:
            values = metrics.get(f"test_{term}") or metrics.get(f"train_{term}") or []
            for epoch, value in zip(metrics.get("epoch", []), values, strict=False):
                if epoch is not None and value is not None and math.isfinite(value):
                    by_epoch.setdefault(epoch, []).append(value)
        complete = [(e, Stat.of(v)) for e, v in sorted(by_epoch.items()) if len(v) == len(runs)]
        if complete:
            out[term] = complete
    return out
