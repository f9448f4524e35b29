"""The report page: one self-contained HTML file (images as base64 data URIs, inline CSS).

Nothing on the page refers to the network or to other files, so it can be mailed or archived
alone. A small inline script records, once the page has loaded, how many of its images decoded
(``<body data-images-loaded="N" data-images-total="M">``); a headless browser test reads it.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .figures import Picture

__all__ = ["Section", "image_html", "metrics_table", "render_page", "side_by_side"]

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1100px; padding: 0 1rem; color: #222; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; } h2 { font-size: 1.2rem; margin-top: 2rem;
     border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
.sub { color: #666; margin-top: 0; } .caption { color: #444; font-size: 0.92rem; }
.missing { color: #a33; font-style: italic; }
img { max-width: 100%; height: auto; image-rendering: pixelated; }
pre { background: #f6f6f6; padding: 0.8rem; overflow-x: auto; font-size: 0.85rem; }
table { border-collapse: collapse; } td, th { padding: 0.15rem 0.9rem 0.15rem 0; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
nav a { margin-right: 0.8rem; }
.row { display: flex; flex-wrap: wrap; gap: 1.2rem; } .row figure { margin: 0; max-width: 320px; }
figcaption { text-align: center; font-size: 0.92rem; color: #444; }
"""

_SCRIPT = """
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var loaded = images.filter(function (i) { return i.complete && i.naturalWidth > 0; });
  document.body.dataset.imagesLoaded = String(loaded.length);
  document.body.dataset.imagesTotal = String(images.length);
});
"""


@dataclass(frozen=True)
class Section:
    """One part of the page: a heading, and a picture or HTML, or why it is missing."""

    anchor: str
    title: str
    picture: Picture | None = None
    body_html: str = ""
    missing: str = ""


def metrics_table(report: dict[str, Any]) -> str:
    """The test metrics of :func:`genkit_core.evaluation.evaluate` as an HTML table."""
    names = {
        "negative_elbo": "negative ELBO",
        "reconstruction": "reconstruction, -log p(x|z)",
        "kl": "KL(q(z|x) || p(z))",
        "iw_nll": "-log p(x), importance-weighted (K = {iw_samples})",
    }
    rows = []
    for key, label in names.items():
        if key in report:
            rows.append((label.format(**report), f"{report[key]:.4f}"))
    rows.append(("active units", f"{report['active_units']} of {report['latent_units']}"))
    rows.append(("test examples", str(report["examples"])))
    cells = "".join(
        f"<tr><th>{html.escape(k)}</th><td class='num'>{html.escape(v)}</td></tr>" for k, v in rows
    )
    note = ""
    if not report.get("normalized", True):
        note = (
            "<p class='caption'>The likelihood drops its normalising constant: compare these "
            "numbers only with runs of the same likelihood.</p>"
        )
    return f"<table>{cells}</table><p class='caption'>Per test example, in nats.</p>{note}"


def render_page(title: str, subtitle: str, sections: Sequence[Section]) -> str:
    """The whole HTML document."""
    nav = " ".join(f"<a href='#{s.anchor}'>{html.escape(s.title)}</a>" for s in sections)
    parts = [
        "<!DOCTYPE html>",
        "<html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style>",
        f"<script>{_SCRIPT}</script></head><body>",
        f"<h1>{html.escape(title)}</h1><p class='sub'>{html.escape(subtitle)}</p>",
        f"<nav>{nav}</nav>",
    ]
    parts.extend(_section(s) for s in sections)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _section(s: Section) -> str:
    out = [f"<section id='{s.anchor}'><h2>{html.escape(s.title)}</h2>"]
    if s.missing:
        out.append(f"<p class='missing'>Not drawn: {html.escape(s.missing)}</p>")
    if s.picture is not None:
        out.append(f"<p class='caption'>{html.escape(s.picture.caption)}</p>")
        out.append(image_html(s.picture))
    out.append(s.body_html)
    out.append("</section>")
    return "".join(out)


def image_html(picture: Picture) -> str:
    """The picture as an ``<img>`` holding its PNG (a base64 data URI: no file to lose)."""
    data = base64.b64encode(picture.png).decode("ascii")
    return f"<img alt='{html.escape(picture.title)}' src='data:image/png;base64,{data}'>"


def side_by_side(pictures: Sequence[Picture]) -> str:
    """Pictures in a row, each with its title under it (a picture without PNG: its caption)."""
    cells = []
    for p in pictures:
        shown = image_html(p) if p.png else f"<p class='missing'>{html.escape(p.caption)}</p>"
        cells.append(f"<figure>{shown}<figcaption>{html.escape(p.title)}</figcaption></figure>")
    return f"<div class='row'>{''.join(cells)}</div>"
