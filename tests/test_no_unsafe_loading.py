"""genkit reads user files without running code: no pickle, no unsafe YAML, one import point.

The source of both packages is parsed (not grepped, so comments and strings do not count) and
every call that can execute code from a file is refused: ``torch.load`` without
``weights_only=True``, ``pickle`` / ``dill`` loads, ``numpy.load(allow_pickle=True)``, YAML
loaders other than ``safe_load``, ``eval`` / ``exec``; ``importlib.import_module`` is allowed
only in the registry, which loads entry points and a spec's ``plugins:`` list.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
SOURCES = sorted(
    p for package in ("genkit_core", "genkit_plugins") for p in (ROOT / package).rglob("*.py")
)
IMPORTERS = {Path("genkit_core/registry.py")}
"""The one module that imports code by name: plugins from entry points and ``plugins:``."""


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def _keyword_is(call: ast.Call, name: str, value: object) -> bool:
    return any(
        k.arg == name and isinstance(k.value, ast.Constant) and k.value.value == value
        for k in call.keywords
    )


def _unsafe_calls(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        where = f"{path.relative_to(ROOT)}:{node.lineno} {name}"
        if name == "torch.load" and not _keyword_is(node, "weights_only", True):
            found.append(f"{where} without weights_only=True")
        elif name.split(".")[0] in ("pickle", "dill", "cloudpickle", "marshal", "shelve"):
            found.append(where)
        elif name in ("np.load", "numpy.load") and _keyword_is(node, "allow_pickle", True):
            found.append(f"{where} with allow_pickle=True")
        elif name.startswith("yaml.") and name.split(".")[1] in (
            "load", "load_all", "full_load", "full_load_all", "unsafe_load", "unsafe_load_all",
        ):  # fmt: skip
            found.append(f"{where}: use yaml.safe_load")
        elif name in ("eval", "exec", "compile", "__import__"):
            found.append(where)
        elif name.endswith("import_module") and path.relative_to(ROOT) not in IMPORTERS:
            found.append(f"{where}: code is imported only by the registry")
    return found


def test_the_sources_are_found() -> None:
    assert len(SOURCES) > 20 and all((ROOT / p).is_file() for p in IMPORTERS)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_call_can_run_code_from_a_file(path: Path) -> None:
    assert _unsafe_calls(path) == []


def test_the_check_catches_what_it_is_for(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import torch, yaml, pickle, numpy as np\n"
        "torch.load('m.pt')\n"
        "torch.load('m.pt', weights_only=True)\n"
        "yaml.load(text, Loader=yaml.Loader)\n"
        "yaml.safe_load(text)\n"
        "pickle.loads(b'')\n"
        "np.load('a.npy', allow_pickle=True)\n"
        "eval('1')\n"
    )
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        found = _unsafe_calls(bad)
    finally:
        ROOT = saved
    assert [f.split()[0] for f in found] == [f"bad.py:{n}" for n in (2, 4, 6, 7, 8)]
