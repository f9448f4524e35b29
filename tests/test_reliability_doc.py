"""docs/reliability.md names the tests that pin each case: every one it names must exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
DOC = (ROOT / "docs" / "reliability.md").read_text()


def test_every_test_file_the_page_names_exists() -> None:
    files = set(re.findall(r"`([\w/]*test_\w+\.py)", DOC))
    assert len(files) >= 8
    assert sorted(f for f in files if not (ROOT / "tests" / f).is_file()) == []


def test_every_test_function_the_page_names_exists() -> None:
    named = set(re.findall(r"\b(test_\w+)(?!\.py)\b", DOC)) - {
        Path(f).stem for f in re.findall(r"(test_\w+\.py)", DOC)
    }
    defined = {
        name
        for path in (ROOT / "tests").rglob("test_*.py")
        for name in re.findall(r"^def (test_\w+)", path.read_text(), re.MULTILINE)
    }
    assert len(named) >= 30
    assert sorted(named - defined) == []
