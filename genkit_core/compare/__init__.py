"""Comparing runs: one row per configuration (mean ± std over seeds of the test metrics), as a
terminal table, CSV, JSON and a self-contained ``compare.html``. ``genkit compare``; see
``docs/sweeps.md``.
"""

from __future__ import annotations

from .collect import (
    RUNTIME_FIELDS,
    Configuration,
    PrunedRun,
    RunRecord,
    collect,
    columns,
    difference,
    find_runs,
    keys,
    pruned_runs,
)
from .curves import plot_overlaid_curves
from .page import COMPARE_PAGE, render_compare_page, write_compare_page
from .table import Row, Stat, pruned_text, rows, to_csv, to_json, to_text

__all__ = [
    "COMPARE_PAGE",
    "RUNTIME_FIELDS",
    "Configuration",
    "PrunedRun",
    "Row",
    "RunRecord",
    "Stat",
    "collect",
    "columns",
    "difference",
    "find_runs",
    "keys",
    "plot_overlaid_curves",
    "pruned_runs",
    "pruned_text",
    "render_compare_page",
    "rows",
    "to_csv",
    "to_json",
    "to_text",
    "write_compare_page",
]
