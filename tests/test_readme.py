"""The README's commands are the ones CI runs, and its spec and Python snippet work."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml
from packaging.requirements import Requirement

from genkit_core import build_model, load_spec
from genkit_core.install import torchvision_for

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_ci_runs_the_readme_install_and_test_commands():
    ci = (ROOT / ".ci" / "run").read_text()
    install, _cpu_torch, test = (block.strip() for block in _blocks("bash"))
    pip_part, train_part = (part.strip() for part in install.split("&&"))
    assert pip_part in ci
    assert train_part in ci
    assert test in ci.splitlines()


def test_the_cpu_torch_install_asks_for_a_matching_pair_genkit_allows():
    """Else pip would replace the CPU build with the default (CUDA) one, break the pins, or
    mix a torchvision built for another torch (genkit's start-up check would refuse it)."""
    (command,) = [b for b in _blocks("bash") if "--index-url" in b]
    asked = {r.name: r.specifier for r in map(Requirement, re.findall(r'"([^"]+)"', command))}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = {r.name: r.specifier for r in map(Requirement, project["dependencies"])}
    assert set(asked) == {"torch", "torchvision"}
    pins = {name: str(spec).removeprefix("==").removesuffix(".*") for name, spec in asked.items()}
    assert all(str(asked[name]) == f"=={pins[name]}.*" for name in asked)  # one release each
    assert torchvision_for(pins["torch"] + ".0") == pins["torchvision"]
    for name, pin in pins.items():
        assert required[name].contains(pin + ".0"), f"{name} {pin} is outside {required[name]}"
    assert command.strip().endswith("--index-url https://download.pytorch.org/whl/cpu")


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
