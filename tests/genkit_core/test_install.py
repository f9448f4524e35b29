"""A torchvision built for another torch is refused at the command's start, in one line with
the pip command that installs the matching pair (not 60 lines of traceback after an epoch)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError
from pathlib import Path
from typing import Any

import pytest
import torch

from genkit_core import install
from genkit_core.cli import main
from genkit_core.errors import InstallError
from genkit_core.install import check_torch_pair, torchvision_for


@pytest.fixture(autouse=True)
def _check_again() -> Iterator[None]:
    check_torch_pair.cache_clear()
    yield
    check_torch_pair.cache_clear()


def _installed(monkeypatch: pytest.MonkeyPatch, torch_version: str, vision: str | None) -> None:
    def version(name: str) -> str:
        if vision is None:
            raise PackageNotFoundError(name)
        return vision

    monkeypatch.setattr(torch, "__version__", torch_version)
    monkeypatch.setattr(install, "version", version)
    monkeypatch.setattr(torch.version, "cuda", "12.8" if "cu" in torch_version else None)


@pytest.mark.parametrize(
    ("torch_version", "expected"),
    [("2.2.0", "0.17"), ("2.13.0+cpu", "0.28"), ("2.14.1", "0.29"), ("3.0.0", None)],
)
def test_torchvision_0_x_plus_15_is_built_for_torch_2_x(torch_version: str, expected: Any):
    assert torchvision_for(torch_version) == expected


@pytest.mark.parametrize(
    ("torch_version", "vision"),
    [
        pytest.param("2.14.1", "0.29.1", id="pypi"),
        pytest.param("2.14.1+cpu", "0.29.1+cpu", id="cpu-index"),
        pytest.param("2.14.1+cpu", "0.29.1", id="unknown-build"),
        pytest.param("2.15.0.dev20270101", "0.30.0.dev20270101", id="nightly"),
    ],
)
def test_a_matching_pair_passes(monkeypatch, torch_version: str, vision: str) -> None:
    _installed(monkeypatch, torch_version, vision)
    monkeypatch.setattr(install, "_ops_problem", lambda: None)
    check_torch_pair()


@pytest.mark.parametrize(
    ("torch_version", "vision", "why", "fix"),
    [
        pytest.param(
            "2.13.0+cpu", "0.28.0+cu128", "one is built for cpu, the other for cu128",
            'pip install "torch==2.13.*" "torchvision==0.28.*" --index-url '
            "https://download.pytorch.org/whl/cpu",
            id="cpu-torch-cuda-torchvision",
        ),
        pytest.param(
            "2.13.0+cpu", "0.29.0", "torchvision 0.28 is the one built for torch 2.13.0",
            '"torch==2.13.*" "torchvision==0.28.*"', id="releases",
        ),
        pytest.param(
            "2.14.0+cu128", "0.28.1+cu128", "torchvision 0.29 is the one built for torch 2.14.0",
            "--index-url https://download.pytorch.org/whl/cu128", id="cuda-index",
        ),
    ],
)  # fmt: skip
def test_a_mismatched_pair_is_one_line_with_the_fix(
    monkeypatch, torch_version: str, vision: str, why: str, fix: str
) -> None:
    _installed(monkeypatch, torch_version, vision)
    with pytest.raises(InstallError) as raised:
        check_torch_pair()
    message = str(raised.value)
    assert message.startswith(f"torch {torch_version} and torchvision {vision} do not match")
    assert why in message and fix in message and "\n" not in message


def test_operators_that_do_not_load_are_a_mismatch(monkeypatch) -> None:
    """The versions may agree and the builds still not: torchvision's C++ library is tried."""
    _installed(monkeypatch, "2.13.0+cpu", "0.28.0")
    monkeypatch.delitem(sys.modules, "torchvision", raising=False)

    def load_library(path: str) -> None:
        assert Path(path).name.startswith("_C")
        raise OSError("libcudart.so.12: cannot open shared object file: No such file\nmore")

    monkeypatch.setattr(torch.ops, "load_library", load_library)
    with pytest.raises(InstallError, match=r"operators do not load: libcudart.so.12: .*file\);"):
        check_torch_pair()


def test_a_missing_torchvision_names_the_install(monkeypatch) -> None:
    _installed(monkeypatch, "2.14.1+cpu", None)
    with pytest.raises(InstallError, match=r'not installed; pip install "torch==2.14.\*" "torch'):
        check_torch_pair()


def test_genkit_train_checks_before_training(monkeypatch, tmp_path, spec_dict, write_spec, capsys):
    _installed(monkeypatch, "2.13.0+cpu", "0.28.0+cu128")
    run = tmp_path / "run"
    assert main(["train", str(write_spec(spec_dict())), "-o", str(run)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("genkit: error: torch 2.13.0+cpu and torchvision 0.28.0+cu128 do not")
    assert err.count("\n") == 1 and not run.exists()
