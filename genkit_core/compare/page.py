"""``compare.html``: the comparison on one self-contained page, built from the report's pieces.

Sections: the table (click a heading to sort by it; ``compare.html#sort=iw_nll`` or
``#sort=iw_nll:desc`` opens it sorted), the loss curves of every configuration overlaid,
samples and reconstructions side by side (one column per configuration, from its first run),
each configuration's spec difference from the reference, with its runs, and the runs a sweep's
pruner stopped (apart: they are not compared).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from .._version import __version__
from ..errors import GenkitError
from ..files import atomic_write
from ..fitted_priors import fitted_priors
from ..report.figures import Picture, prior_pictures, reconstructions_picture, samples_picture
from ..report.page import Section, image_html, render_page, side_by_side
from ..report.render import figure_png
from ..report.view import RunView, open_run
from ..report.writing import figure_section
from ..spec import dump_spec
from .collect import PrunedRun
from .curves import plot_overlaid_curves
from .table import TITLES, Row, Stat, key_cells

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
  var box = table.parentNode;  // how far the table overflows its box: 0 when it fits
  document.body.dataset.tableOverflow = String(Math.max(0, table.offsetWidth - box.clientWidth));
  var wanted = /sort=([A-Za-z0-9_.]+)(:desc)?/.exec(window.location.hash);
  if (wanted) {
    Array.prototype.forEach.call(heads, function (head, index) {
      if (head.dataset.key === wanted[1]) { sortBy(index, Boolean(wanted[2])); }
    });
  }
})();
"""


_TABLE_STYLE = """
div.fit { overflow-x: auto; }
table#configurations { font-size: 0.85rem; }
table#configurations th { cursor: pointer; vertical-align: bottom; overflow-wrap: anywhere;
  max-width: 9rem; }
table#configurations th:hover { text-decoration: underline; }
table#configurations td, table#configurations th { padding: 0.15rem 0.5rem 0.15rem 0; }
table#configurations td.num { white-space: nowrap; }
table#configurations th.num { text-align: right; }
table#configurations td.key { max-width: 12rem; overflow-wrap: anywhere; }
table#configurations .spread { color: #666; font-size: 0.8rem; }
table#configurations td:first-child, table#configurations th:first-child {
  position: sticky; left: 0; background: #fff; }
"""


def render_compare_page(
    table: list[Row],
    columns: list[str],
    reference: str,
    device: str = "cpu",
    pruned: Sequence[PrunedRun] = (),
) -> str:
    """The page's HTML (see the module's docstring)."""
    runs = sum(r.runs for r in table)
    sections = [
        Section("table", "Configurations", body_html=_table_html(table, columns, reference)),
        figure_section("curves", lambda: _curves_picture(table)),
        Section("pictures", "Samples and reconstructions", body_html=_pictures_html(table, device)),
        Section("differences", "Spec differences", body_html=_differences_html(table, reference)),
    ]
    if pruned:
        sections.append(Section("pruned", "Pruned trials", body_html=_pruned_html(pruned)))
    title = f"{len(table)} configurations, {runs} runs"
    subtitle = f"compared by genkit {__version__}; per test example, in nats"
    return render_page(title, subtitle, sections)


def write_compare_page(
    table: list[Row],
    columns: list[str],
    reference: str,
    output: str | Path,
    device: str = "cpu",
    pruned: Sequence[PrunedRun] = (),
) -> Path:
    """Write the page to ``output`` and return its path."""
    output = Path(output)
    page = render_compare_page(table, columns, reference, device, pruned)
    atomic_write(output, page.encode())
    return output


def _table_html(table: list[Row], columns: list[str], reference: str) -> str:
    names, values = key_cells(table)
    heads = [("id", "#", ""), *((k, k, "key") for k in names),
             *((c, TITLES.get(c, c), "num") for c in columns), ("runs", "runs", "num")]  # fmt: skip
    head = "".join(
        f"<th data-key='{html.escape(key)}' class='{kind}' title='sort by {html.escape(title)}'>"
        f"{html.escape(title)}</th>"
        for key, title, kind in heads
    )
    body = []
    for i, (r, cells) in enumerate(zip(table, values, strict=True), start=1):
        mark = "" if r.normalized else " *"
        label = html.escape(r.configuration.label)
        row = [f"<td data-value='{i}' title='{label}'>C{i}{mark}</td>"]
        row += [f"<td class='key' data-value='{html.escape(v)}'>{html.escape(v)}</td>"
                for v in cells]  # fmt: skip
        for c in columns:
            stat = r.stats.get(c)
            value = repr(stat.mean) if stat and math.isfinite(stat.mean) else "Infinity"
            row.append(f"<td class='num' data-value='{value}'>{_stat_html(stat)}</td>")
        row.append(f"<td class='num' data-value='{r.runs}'>{r.runs}</td>")
        body.append(f"<tr data-config='C{i}'>{''.join(row)}</tr>")
    note = "" if all(r.normalized for r in table) else (
        "<p class='caption'>* its likelihood drops its normalising constant: compare its numbers "
        "only with runs of the same likelihood.</p>"
    )  # fmt: skip
    keyed = (
        "The columns after # are the spec keys in which the configurations differ; "
        if names else ""
    )  # fmt: skip
    return (
        f"<p class='caption'>Mean ± standard deviation over each configuration's runs (seeds) of "
        f"the test metrics, per example in nats; lower is better except active units (a "
        f"column named metric.score is that metric's score, in its own units). {keyed}"
        f"each configuration's difference from {html.escape(reference)} is under Spec "
        f"differences. Click a heading to sort.</p>"
        f"<div class='fit'><table id='configurations' class='sortable'><thead><tr>{head}</tr>"
        f"</thead><tbody>{''.join(body)}</tbody></table></div>{note}"
        f"<style>{_TABLE_STYLE}</style><script>{_SORT_SCRIPT}</script>"
    )


def _stat_html(stat: Stat | None) -> str:
    """``45.81<br>± 0.12``: the spread under the mean, so a column is as narrow as a number."""
    if stat is None:
        return ""
    spread = f"<br><span class='spread'>± {stat.std:.2f}</span>" if stat.std is not None else ""
    return f"{stat.mean:.2f}{spread}"


def _curves_picture(table: list[Row]) -> Picture:
    caption = (
        "Test loss and each of its terms against the epoch, one line per configuration (C1, "
        "C2, ... as in the table): the mean over its runs, shaded one standard deviation."
    )
    return Picture("Loss curves", caption, figure_png(plot_overlaid_curves(table)))


def _pictures_html(table: list[Row], device: str) -> str:
    heads, samples, recons, priors = [], [], [], []
    fitted = any(fitted_priors(r.configuration.runs[0].run_dir) for r in table)
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
            priors.append(missing)
            continue
        samples.append(_cell(partial(samples_picture, view)))
        recons.append(_cell(partial(reconstructions_picture, view, n=16)))
        if fitted:
            priors.append(_priors_cell(view))
    priors_row = f"<tr><th>samples by prior</th>{''.join(priors)}</tr>" if fitted else ""
    return (
        "<p class='caption'>Each column: the first run (lowest seed) of one configuration. "
        "Samples decode draws from the prior (an AE's from a Gaussian fitted to its codes); "
        "reconstructions show test images (odd columns) and the likelihood's mean at their "
        "codes.</p><div class='wide'><table class='columns'>"
        f"<tr><th></th>{''.join(heads)}</tr>"
        f"<tr><th>samples</th>{''.join(samples)}</tr>"
        f"<tr><th>reconstructions</th>{''.join(recons)}</tr>{priors_row}</table></div>"
        "<style>.wide { overflow-x: auto; } table.columns { table-layout: fixed; } "
        "table.columns td, table.columns th { vertical-align: top; min-width: 130px; "
        "padding: 0.3rem; }</style>"
    )


def _priors_cell(view: RunView) -> str:
    """The run's own prior and each prior fitted to it afterwards (genkit fit-prior), each
    grid with its name under it.
    """
    try:
        return f"<td>{side_by_side(prior_pictures(view, n=16))}</td>"
    except GenkitError as exc:
        return f"<td class='missing'>Not drawn: {html.escape(str(exc))}</td>"


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


def _pruned_html(pruned: Sequence[PrunedRun]) -> str:
    items = "".join(
        f"<li>{html.escape(str(r.run_dir))}: {html.escape(r.reason)}"
        + (f" (test loss {r.test_loss:.2f})" if r.test_loss is not None else "")
        + "</li>"
        for r in pruned
    )
    return (
        "<p class='caption'>Trials the sweep's pruner stopped early: their epochs are fewer, "
        f"so they are not compared.</p><ul>{items}</ul>"
    )
