"""The README's commands are the ones CI runs, and its spec and Python snippet work."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from genkit_core import build_model, load_spec

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_ci_runs_the_readme_install_and_test_commands():
    ci = (ROOT / ".ci" / "run").read_text()
    install, test = (block.strip() for block in _blocks("bash"))
    pip_part, train_part = (part.strip() for part in install.split("&&"))
    assert pip_part in ci
    assert train_part in ci
    assert test in ci.splitlines()


def test_the_readme_spec_validates_and_builds():
    (block,) = _blocks("yaml")
    spec = load_spec(yaml.safe_load(block))
    assert build_model(spec, device="meta").kind == "vae"


def test_the_readme_python_snippet_runs(tmp_path, monkeypatch):
    (snippet,) = _blocks("python")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    quick = snippet.replace(
        'Trainer("examples/vae.yaml", "runs/vae", overwrite=True)',
        'Trainer("examples/vae.yaml", "runs/vae", overwrite=True, overrides=["train.epochs=1"])',
    )
    assert quick != snippet
    exec(quick, {})
    assert (tmp_path / "runs" / "vae" / "model.safetensors").is_file()
