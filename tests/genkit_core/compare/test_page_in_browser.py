"""compare.html in headless Chromium: its images decode, its table sorts, it renders."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from genkit_core.compare import (
    Configuration,
    RunRecord,
    collect,
    columns,
    rows,
    write_compare_page,
)

from ..report.test_page_in_browser import CHROMIUM, _chromium, check_screenshot

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no chromium binary on PATH (apt-get install chromium); .ci/run installs it",
    ),
]


@pytest.fixture(scope="module")
def page(seeded_runs: Path, tmp_path_factory) -> Path:
    found, reference = collect([seeded_runs], iw_samples=5, warn=lambda line: None)
    names = columns(found)
    out = tmp_path_factory.mktemp("compare_browser") / "compare.html"
    return write_compare_page(rows(found, names, None), names, reference, out)


def _body(page_uri: str) -> str:
    result = _chromium("--dump-dom", page_uri)
    assert "<body" in result.stdout, result.stderr[-2000:]
    return result.stdout


def test_every_image_loads_with_a_nonzero_size(page: Path):
    body = re.search(r"<body([^>]*)>", _body(page.as_uri()))
    assert body is not None
    loaded = re.search(r'data-images-loaded="(\d+)"', body.group(1))
    total = re.search(r'data-images-total="(\d+)"', body.group(1))
    assert loaded and total, f"the page's load script did not run: {body.group(0)}"
    # the overlaid curves, and a samples and a reconstructions grid per configuration
    assert int(total.group(1)) == page.read_text().count("<img ") == 1 + 2 * 2
    assert int(loaded.group(1)) == int(total.group(1))


@pytest.mark.parametrize("descending", [False, True], ids=["ascending", "descending"])
def test_the_table_sorts_by_the_column_the_address_names(page: Path, descending: bool):
    dom = _body(page.as_uri() + "#sort=negative_elbo" + (":desc" if descending else ""))
    table = re.search(r"<table id=\"configurations\"[^>]*>.*?</table>", dom, re.S)
    assert table is not None
    assert f'data-sorted-by="negative_elbo{":desc" if descending else ""}"' in table.group(0)
    order = re.findall(r'<tr data-config="(C\d)">.*?<td class="num" data-value="([^"]+)"',
                       table.group(0), re.S)  # fmt: skip
    values = [float(v) for _, v in order]
    assert len(values) == 2 and values == sorted(values, reverse=descending)


def test_the_page_renders_to_a_screenshot(page: Path, tmp_path: Path):
    check_screenshot(page, tmp_path)


def _sweep_like_table() -> tuple[list, list[str]]:
    """Eight configurations of three keys over three seeds, as examples/sweep_terms.yaml has."""
    names = ["negative_elbo", "reconstruction", "kl", "iw_nll", "active_units", "test_loss"]
    found = []
    for i, (lik, prior, beta) in enumerate(itertools.product(
        ("bernoulli", "gaussian"), ("standard_normal", "vamp"), (1, 4)
    )):  # fmt: skip
        spec = {"likelihood": {"type": lik}, "prior": {"type": prior},
                "divergence": {"type": "gaussian_kl", "beta": beta}}  # fmt: skip
        c = Configuration(
            str(i),
            spec,
            values={
                "likelihood": spec["likelihood"],
                "prior": spec["prior"],
                "divergence.beta": beta,
            },
        )
        metrics = {n: 36.45 + i for n in names}
        c.runs += [RunRecord(Path(f"runs/{i}-{s}"), {**spec, "train": {"seed": s}}, metrics)
                   for s in range(3)]  # fmt: skip
        found.append(c)
    return rows(found, names, None), names


def test_the_table_of_a_sweep_fits_a_1200_pixel_window(tmp_path: Path):
    table, names = _sweep_like_table()
    out = write_compare_page(table, names, "the base spec of sweep s", tmp_path / "c.html")
    body = re.search(r"<body([^>]*)>", _body_at(out.as_uri(), "--window-size=1200,900"))
    assert body is not None
    assert 'data-table-overflow="0"' in body.group(1), body.group(1)


def _body_at(page_uri: str, *args: str) -> str:
    result = _chromium(*args, "--dump-dom", page_uri)
    assert "<body" in result.stdout, result.stderr[-2000:]
    return result.stdout
