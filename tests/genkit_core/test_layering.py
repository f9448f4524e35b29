"""The core never imports the built-in plugins: they arrive through their entry point."""

from __future__ import annotations

import ast
from pathlib import Path

CORE = Path(__file__).parents[2] / "genkit_core"


def test_genkit_core_imports_nothing_from_genkit_plugins():
    offenders = []
    for path in sorted(CORE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            offenders += [f"{path.relative_to(CORE)}:{node.lineno}" for n in names
                          if n.split(".")[0] == "genkit_plugins"]  # fmt: skip
    assert offenders == []


def test_the_check_covers_the_whole_core():
    assert (CORE / "testing" / "checks.py").is_file() and len(list(CORE.rglob("*.py"))) > 30
