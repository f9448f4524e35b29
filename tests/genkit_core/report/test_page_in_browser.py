"""The report page in a real browser (headless Chromium): every image decodes, and it renders."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from genkit_core.report import write_report

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome-headless-shell")
CHROMIUM = next((path for name in BROWSERS if (path := shutil.which(name))), None)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no chromium binary on PATH (apt-get install chromium); .ci/run installs it",
    ),
]


def _chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--hide-scrollbars", "--virtual-time-budget=10000", *args,
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def page(trained_runs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("browser") / "report.html"
    return write_report(trained_runs["cvae"], out, iw_samples=0)


def test_every_image_loads_with_a_nonzero_size(page: Path):
    result = _chromium("--dump-dom", page.as_uri())
    body = re.search(r"<body([^>]*)>", result.stdout)
    assert body is not None, result.stderr[-2000:]
    loaded = re.search(r'data-images-loaded="(\d+)"', body.group(1))
    total = re.search(r'data-images-total="(\d+)"', body.group(1))
    assert loaded and total, f"the page's load script did not run: {body.group(0)}"
    expected = page.read_text().count("<img ")
    assert int(total.group(1)) == expected == 6
    assert int(loaded.group(1)) == expected


def test_the_page_renders_to_a_screenshot(page: Path, tmp_path: Path):
    check_screenshot(page, tmp_path)


def check_screenshot(page: Path, tmp_path: Path) -> None:
    """The page renders to a 1100 x 2000 screenshot holding text and figures, not a blank one."""
    shot = tmp_path / "page.png"
    result = _chromium(f"--screenshot={shot}", "--window-size=1100,2000", page.as_uri())
    assert shot.is_file(), result.stderr[-2000:]
    image = Image.open(shot).convert("L")
    assert image.size == (1100, 2000)
    lo, hi = image.getextrema()
    assert hi - lo > 100
