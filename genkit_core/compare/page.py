"""``compare.html``: the comparison on one self-contained page, built from the report's pieces.

Sections: the table (click a heading to sort by it; ``compare.html#sort=iw_nll`` or
``#sort=iw_nll:desc`` opens it sorted), the loss curves of every configuration overlaid,
samples and reconstructions side by side (one column per configuration, from its first run),
and each configuration's spec difference from the reference, with its runs.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from functools import partial
from pathlib import Path

from .._version import __version__
from ..errors import GenkitError
from ..files import atomic_write
from ..report.figures import Picture, reconstructions_picture, samples_picture
from ..report.page import Section, image_html, render_page
from ..report.render import figure_png
from ..report.view import open_run
from ..report.writing import figure_section
from ..spec import dump_spec
from .curves import plot_overlaid_curves
from .table import TITLES, Row

__all__ = ["COMPARE_PAGE", "render_compare_page", "write_compare_page"]

COMPARE_PAGE = "compare.html"

_SORT_SCRIPT = """
(function () {
  var table = document.getElementById("configurations");
  var heads = table.tHead.rows[0].cells;
  function sortBy(index, descending) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[index].dataset.value, y = b.cells[index].dataset.value;
      var nx = parseFloat(x), ny = parseFloat(y);
      var order = isNaN(nx) || isNaN(ny) ? String(x).localeCompare(String(y)) : nx - ny;
      return descending ? -order : order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    table.dataset.sortedBy = heads[index].dataset.key + (descending ? ":desc" : "");
  }
  Array.prototype.forEach.call(heads, function (head, index) {
    head.addEventListener("click", function () {
      sortBy(index, table.dataset.sortedBy === head.dataset.key);
    });
  });
  var wanted = /sort=([A-Za-z0-9_]+)(:desc)?/.exec(window.location.hash);
  if (wanted) {
    Array.prototype.forEach.call(heads, function (head, index) {
      if (head.dataset.key === wanted[1]) { sortBy(index, Boolean(wanted[2])); }
    });
  }
})();
"""


def render_compare_page(
    table: list[Row], columns: list[str], reference: str, device: str = "cpu"
) -> str:
    """The page's HTML (see the module's docstring)."""
    runs = sum(r.runs for r in table)
    sections = [
        Section("table", "Configurations", body_html=_table_html(table, columns, reference)),
        figure_section("curves", lambda: _curves_picture(table)),
        Section("pictures", "Samples and reconstructions", body_html=_pictures_html(table, device)),
        Section("differences", "Spec differences", body_html=_differences_html(table, reference)),
    ]
    title = f"{len(table)} configurations, {runs} runs"
    subtitle = f"compared by genkit {__version__}; per test example, in nats"
    return render_page(title, subtitle, sections)


def write_compare_page(
    table: list[Row], columns: list[str], reference: str, output: str | Path, device: str = "cpu"
) -> Path:
    """Write the page to ``output`` and return its path."""
    output = Path(output)
    atomic_write(output, render_compare_page(table, columns, reference, device).encode())
    return output


def _table_html(table: list[Row], columns: list[str], reference: str) -> str:
    heads = [("id", "#"), ("configuration", "configuration"),
             *((c, TITLES.get(c, c)) for c in columns), ("runs", "runs")]  # fmt: skip
    head = "".join(
        f"<th data-key='{key}' title='sort by {html.escape(title)}'>{html.escape(title)}</th>"
        for key, title in heads
    )
    body = []
    for i, r in enumerate(table, start=1):
        label = r.configuration.label + ("" if r.normalized else " *")
        cells = [f"<td data-value='{i}'>C{i}</td>",
                 f"<td data-value='{html.escape(label)}'>{html.escape(label)}</td>"]  # fmt: skip
        for c in columns:
            stat = r.stats.get(c)
            value = repr(stat.mean) if stat else "Infinity"
            cells.append(f"<td class='num' data-value='{value}'>{stat.text() if stat else ''}</td>")
        cells.append(f"<td class='num' data-value='{r.runs}'>{r.runs}</td>")
        body.append(f"<tr data-config='C{i}'>{''.join(cells)}</tr>")
    note = "" if all(r.normalized for r in table) else (
        "<p class='caption'>* its likelihood drops its normalising constant: compare its numbers "
        "only with runs of the same likelihood.</p>"
    )  # fmt: skip
    return (
        f"<p class='caption'>Mean ± standard deviation over each configuration's runs (seeds) of "
        f"the test metrics, per example in nats; lower is better except active units. "
        f"Configurations are named by how their spec differs from {html.escape(reference)}. "
        f"Click a heading to sort.</p>"
        f"<table id='configurations' class='sortable'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>{note}<script>{_SORT_SCRIPT}</script>"
    )


def _curves_picture(table: list[Row]) -> Picture:
    caption = (
        "Test loss and each of its terms against the epoch, one line per configuration (C1, "
        "C2, ... as in the table): the mean over its runs, shaded one standard deviation."
    )
    return Picture("Loss curves", caption, figure_png(plot_overlaid_curves(table)))


def _pictures_html(table: list[Row], device: str) -> str:
    heads, samples, recons = [], [], []
    for i, r in enumerate(table, start=1):
        first = r.configuration.runs[0]
        label = html.escape(r.configuration.label)
        heads.append(f"<th>C{i}<br><span class='caption'>{label}</span></th>")
        try:
            view = open_run(first.run_dir, device, max_test=64, max_train=1000)
        except GenkitError as exc:
            missing = f"<td class='missing'>Not drawn: {html.escape(str(exc))}</td>"
            samples.append(missing)
            recons.append(missing)
            continue
        samples.append(_cell(partial(samples_picture, view)))
        recons.append(_cell(partial(reconstructions_picture, view, n=16)))
    return (
        "<p class='caption'>Each column: the first run (lowest seed) of one configuration. "
        "Samples decode draws from the prior (an AE's from a Gaussian fitted to its codes); "
        "reconstructions show test images (odd columns) and the likelihood's mean at their "
        "codes.</p><div class='wide'><table class='columns'>"
        f"<tr><th></th>{''.join(heads)}</tr>"
        f"<tr><th>samples</th>{''.join(samples)}</tr>"
        f"<tr><th>reconstructions</th>{''.join(recons)}</tr></table></div>"
        "<style>.wide { overflow-x: auto; } table.columns { table-layout: fixed; } "
        "table.columns td, table.columns th { vertical-align: top; min-width: 130px; "
        "padding: 0.3rem; } table#configurations th { cursor: pointer; } "
        "table#configurations th:hover { text-decoration: underline; } "
        "table#configurations td.num { white-space: nowrap; }</style>"
    )


def _cell(draw: Callable[[], Picture]) -> str:
    try:
        return f"<td>{image_html(draw())}</td>"
    except GenkitError as exc:
        return f"<td class='missing'>Not drawn: {html.escape(str(exc))}</td>"


def _differences_html(table: list[Row], reference: str) -> str:
    parts = [f"<p class='caption'>How each configuration's spec differs from "
             f"{html.escape(reference)}, and its runs.</p>"]  # fmt: skip
    for i, r in enumerate(table, start=1):
        c = r.configuration
        text = dump_spec(c.difference) if c.difference else "(the reference itself)\n"
        runs = "".join(f"<li>{html.escape(str(run.run_dir))} (seed {run.seed})</li>"
                       for run in c.runs)  # fmt: skip
        parts.append(f"<h3>C{i}: {html.escape(c.label)}</h3><pre>{html.escape(text)}</pre>"
                     f"<ul>{runs}</ul>")  # fmt: skip
    return "".join(parts)
