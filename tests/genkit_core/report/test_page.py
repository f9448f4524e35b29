from __future__ import annotations

import re
from pathlib import Path

import pytest

from genkit_core.report import write_report
from genkit_core.report.page import Section, metrics_table, render_page

SECTIONS = {
    "metrics": "Test metrics",
    "curves": "Loss curves",
    "samples": "Samples",
    "reconstructions": "Reconstructions",
    "latent": "Latent space",
    "interpolations": "Interpolations",
    "traversals": "Latent traversals",
    "spec": "Spec",
}


@pytest.fixture(scope="module")
def pages(trained_runs, tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("pages")
    return {
        kind: write_report(run, root / f"{kind}.html", iw_samples=5).read_text()
        for kind, run in trained_runs.items()
    }


@pytest.mark.parametrize("kind", ["ae", "vae", "cvae"])
def test_the_page_has_every_section_with_a_heading_and_caption(pages, kind):
    page = pages[kind]
    for anchor, title in SECTIONS.items():
        assert f"<section id='{anchor}'><h2>{title}</h2>" in page, anchor
    assert page.count("<img ") == 6
    assert page.count("class='caption'") >= 8
    assert "Not drawn" not in page


@pytest.mark.parametrize("kind", ["ae", "vae", "cvae"])
def test_the_page_is_self_contained(pages, kind):
    page = pages[kind]
    sources = re.findall(r"src='([^']*)'", page)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "<link" not in page and "http://" not in page and "https://" not in page
    assert 'src="' not in page and "@import" not in page and "url(" not in page


def test_the_metrics_are_those_of_evaluate(pages):
    assert "negative ELBO" in pages["vae"] and "importance-weighted (K = 5)" in pages["vae"]
    assert "negative ELBO" not in pages["ae"] and "active units" in pages["ae"]


def test_a_figure_that_cannot_be_drawn_is_a_note(trained_runs, tmp_path: Path):
    run = tmp_path / "run"
    run.mkdir()
    for f in trained_runs["vae"].iterdir():
        if f.name not in ("metrics.csv", "history.jsonl") and f.is_file():
            (run / f.name).write_bytes(f.read_bytes())
    page = write_report(run, iw_samples=0).read_text()
    assert (run / "report.html").is_file()
    assert "<section id='curves'><h2>Curves</h2><p class='missing'>Not drawn: " in page
    assert "no history.jsonl" in page


def test_metrics_table_names_each_term():
    table = metrics_table(
        {"negative_elbo": 90.5, "reconstruction": 80.0, "kl": 10.5, "iw_nll": 88.0,
         "iw_samples": 50, "active_units": 3, "latent_dim": 4, "latent_units": 6,
         "examples": 10, "normalized": False}
    )  # fmt: skip
    for text in ("90.5000", "K = 50", "3 of 6", "normalising constant"):  # of the code's units
        assert text in table


def test_text_is_escaped():
    page = render_page("<b>", "a & b", [Section("x", "<i>", body_html="")])
    assert "<title>&lt;b&gt;</title>" in page and "a &amp; b" in page and "&lt;i&gt;" in page
