"""The documentation site works offline: every script, stylesheet and font it loads is its own.

The formulas once came from a CDN's MathJax, so without a network they stayed raw ``\\[ ... \\]``;
KaTeX is now vendored under ``docs/javascripts/katex/`` (``docs/scripts/vendor_katex.sh``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
KATEX = DOCS / "javascripts" / "katex"


def _config() -> dict:
    return yaml.safe_load((ROOT / "mkdocs.yml").read_text())


def _off_site(address: str) -> bool:
    return bool(re.match(r"^([a-z][a-z0-9+.-]*:)?//", address, re.I))


def test_the_config_loads_scripts_and_styles_from_the_site_and_no_web_fonts():
    config = _config()
    assets = [*config.get("extra_javascript", []), *config.get("extra_css", [])]
    assert "javascripts/katex/katex.min.js" in assets
    for asset in assets:
        address = asset if isinstance(asset, str) else asset["path"]
        assert not _off_site(address), address
        assert (DOCS / address).is_file(), address
    assert config["theme"].get("font") is False  # else the theme links Google Fonts


def test_the_vendored_stylesheet_names_only_fonts_the_site_has():
    css = (KATEX / "katex.min.css").read_text()
    fonts = re.findall(r"url\(([^)]+)\)", css)
    assert fonts, "katex.min.css names no fonts: was it vendored whole?"
    for font in fonts:
        assert not _off_site(font) and (KATEX / font).is_file(), font
    assert "MIT License" in (KATEX / "LICENSE").read_text()


class _Assets(HTMLParser):
    """The scripts and stylesheets a page loads, and its formulas."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded: list[str] = []
        self.formulas: list[str] = []
        self._in_formula = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.loaded.append(a["src"] or "")
        if tag == "link" and a.get("rel") in ("stylesheet", "preconnect", "preload"):
            self.loaded.append(a.get("href") or "")
        if "arithmatex" in (a.get("class") or "").split():
            self._in_formula += 1
            self.formulas.append("")
        elif self._in_formula and tag in ("span", "div"):
            self._in_formula += 1

    def handle_endtag(self, tag: str) -> None:
        if self._in_formula and tag in ("span", "div"):
            self._in_formula -= 1

    def handle_data(self, data: str) -> None:
        if self._in_formula:
            self.formulas[-1] += data


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    pytest.importorskip("mkdocs", reason="the documentation site needs genkit's docs extra")
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.mark.slow
def test_the_built_site_loads_nothing_from_another_host_and_katex_renders_every_formula(site):
    formulas: list[str] = []
    for page in site.rglob("*.html"):
        parser = _Assets()
        parser.feed(page.read_text())
        off_site = [address for address in parser.loaded if _off_site(address)]
        assert off_site == [], page.relative_to(site)
        formulas += parser.formulas
    assert len(formulas) > 100  # the reference's, the API's and the guide's
    if shutil.which("node") is None:
        pytest.skip("node renders the formulas with the vendored KaTeX; it is not installed")
    script = (
        f"const katex = require({json.dumps(str(KATEX / 'katex.min.js'))});"
        "const failed = [];"
        "for (const f of JSON.parse(require('fs').readFileSync(0, 'utf8'))) {"
        "  const display = f.startsWith('\\\\[');"
        "  const options = {displayMode: display, throwOnError: true};"
        "  try { katex.renderToString(f.slice(2, -2), options); }"
        "  catch (e) { failed.push(f + ': ' + e.message); } }"
        "console.log(JSON.stringify(failed));"
    )
    done = subprocess.run(
        ["node", "-e", script],
        input=json.dumps([f.strip() for f in formulas]),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(done.stdout) == []


@pytest.mark.slow
def test_the_built_reference_shows_shapes_and_component_defaults_as_they_are(site):
    data = (site / "reference" / "components" / "data" / "index.html").read_text()
    assert "Make every example a vector (C*H*W,), for MLP encoders." in data
    divergence = (site / "reference" / "components" / "divergence" / "index.html").read_text()
    beta_tc = divergence.split('id="beta_tc"', 1)[1].split('id="gaussian_kl"', 1)[0]
    assert re.search(
        r"<code>beta</code></td>\s*<td><code>float</code></td>\s*<td><code>6\.0<", beta_tc
    )
