"""Fixtures shared by every test: small specs, spec files, a fresh registry."""

from __future__ import annotations

import copy
import json
import os
import site
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from packaging.version import Version

from genkit_core import Registry
from genkit_core.testing import TINY_SPEC, fresh_registry, tiny_spec

ROOT = Path(__file__).resolve().parents[1]

BASE: dict[str, Any] = tiny_spec(train={**TINY_SPEC["train"], "batch_size": 32})
"""genkit's tiny spec for plugin authors (a VAE on 256 digits), in batches of 32."""


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    torch.manual_seed(0)


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No test reads or writes the user's cache (``~/.cache/genkit``: trained feature
    extractors); the tests share one of their own, subprocesses included.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GENKIT_CACHE", str(tmp_path_factory.mktemp("genkit-cache")))
        yield


@pytest.fixture
def spec_dict() -> Callable[..., dict[str, Any]]:
    """A small valid spec (a VAE on 256 digits) with top-level fields replaced by ``changes``."""

    def make(**changes: Any) -> dict[str, Any]:
        spec = copy.deepcopy(BASE)
        spec.update(copy.deepcopy(changes))
        return {k: v for k, v in spec.items() if v is not None}

    return make


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[..., Path]:
    """Write a spec mapping to a YAML or JSON file (by suffix) and return its path."""

    def write(data: dict[str, Any], name: str = "spec.yaml") -> Path:
        path = tmp_path / name
        if path.suffix == ".json":
            path.write_text(json.dumps(data))
        else:
            path.write_text(yaml.safe_dump(data))
        return path

    return write


@pytest.fixture
def builtins_registry() -> Registry:
    """A fresh registry holding only genkit's built-ins, registered as the entry point does."""
    return fresh_registry()


TINY_RUN: dict[str, Any] = tiny_spec(
    latent_dim=3,
    data={**TINY_SPEC["data"], "max_train": 192},
    train={**TINY_SPEC["train"], "epochs": 2, "batch_size": 32},
)
"""The tiny spec trained by ``train_tiny``: 2 epochs, 192 digits, latent_dim 3 (any kind)."""


def _train_tiny(run_dir: Path, model: str = "vae", overrides: tuple[str, ...] = ()) -> Any:
    from genkit_core.training import Trainer

    trainer = Trainer({**TINY_RUN, "model": model}, run_dir, overrides=list(overrides), stream=None)
    trainer.fit()
    return trainer


@pytest.fixture(scope="session")
def train_tiny() -> Callable[..., Any]:
    """Train a tiny model (2 epochs, 192 digits) into a run directory; returns the Trainer."""
    return _train_tiny


@pytest.fixture(scope="session")
def trained_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One finished tiny run directory per model kind, trained once per session."""
    root = tmp_path_factory.mktemp("runs")
    return {kind: _train_tiny(root / kind, kind).run_dir for kind in ("ae", "vae", "cvae")}


@pytest.fixture
def adam_steps() -> Callable[..., list[float]]:
    """Train a model on one batch for a few Adam steps; return the loss before each step."""

    def run(model: Any, x: torch.Tensor, eps: Callable[[], torch.Tensor], steps: int) -> list:
        optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
        losses = []
        for _ in range(steps):
            loss = model(x, noise=eps()).loss
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(float(loss.detach()))
        return losses

    return run


# --- fresh virtual environments (plugin and wheel installs) --------------------------------


def _run_python(python: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``python args...`` in ``cwd`` without PYTHONPATH; fail the test on a non-zero exit."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("PYTHONPATH", None)
    result = subprocess.run(
        [str(python), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


def _can_build_wheels() -> bool:
    """setuptools builds wheels by itself from 70.1; before that it needs the wheel package."""
    try:
        import setuptools
    except ImportError:
        return False
    try:
        import wheel  # noqa: F401
    except ImportError:
        return Version(setuptools.__version__) >= Version("70.1")
    return True


def _is_genkit(entry: Path) -> bool:
    """Whether a site-packages entry is genkit itself: its packages, metadata or editable link."""
    name = entry.name.lower().replace("-", "_")
    if name in ("genkit_core", "genkit_plugins") or "genkit_lvm" in name:
        return True
    return entry.suffix == ".pth" and str(ROOT) in entry.read_text(errors="replace")


def _make_venv(where: Path, with_genkit: bool) -> Path:
    """A virtual environment that reuses this one's packages (torch, pip, setuptools) through a
    ``.pth`` file, so nothing is downloaded; returns its python.

    With ``with_genkit`` it also sees this repository. Without it, it sees a folder of links to
    this environment's packages less genkit's own (its metadata, an editable install's finder),
    so that only what is installed into the new environment can provide genkit.
    """
    if not _can_build_wheels():
        pytest.skip("building packages offline needs setuptools>=70.1 (genkit's dev extra)")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = _run_python(
        python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=where
    ).stdout.strip()
    shared = [*site.getsitepackages(), *(p for p in sys.path if p.endswith("site-packages"))]
    dirs = list(dict.fromkeys(shared))
    if with_genkit:
        dirs.append(str(ROOT))
    else:
        links = where / "shared-site-packages"
        links.mkdir()
        for folder in map(Path, dirs):
            for entry in folder.iterdir() if folder.is_dir() else ():
                if not _is_genkit(entry) and not (links / entry.name).exists():
                    (links / entry.name).symlink_to(entry)
        dirs = [str(links)]
    (Path(purelib) / "_genkit_test_env.pth").write_text(
        f"import site; list(map(site.addsitedir, {dirs!r}))\n"
    )
    return python


@pytest.fixture(scope="session")
def fresh_venv() -> Callable[[Path, bool], Path]:
    """``fresh_venv(where, with_genkit)``: a virtual environment made offline; see _make_venv."""
    return _make_venv


@pytest.fixture(scope="session")
def run_python() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run_python(python, *args, cwd=...)``: run a command, failing the test on an error."""
    return _run_python
