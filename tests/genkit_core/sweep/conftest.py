"""Sweep files over genkit's tiny spec, and running ``genkit sweep`` as a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml

from genkit_core.testing import tiny_spec

BASE: dict[str, Any] = tiny_spec(
    latent_dim=2,
    data={"type": "digits", "max_train": 128, "max_test": 32},
    encoder={"type": "mlp", "hidden": [16]},
    decoder={"type": "mlp", "hidden": [16]},
    train={"epochs": 2, "batch_size": 32, "device": "cpu", "progress": False, "num_workers": 0},
)
"""A VAE on 128 digits: a trial trains in well under a second."""


@pytest.fixture
def sweep_file(tmp_path: Path) -> Callable[..., Path]:
    """Write a sweep over :data:`BASE` (``base`` may be replaced) and return its path."""

    def write(name: str = "sweep.yaml", **fields: Any) -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump({"base": BASE, "iw_samples": 5, **fields}, sort_keys=False))
        return path

    return write


def genkit_sweep(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    """``genkit sweep ARGS`` as its own process (and session, so a test can kill it whole)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "genkit_core", "sweep", *args]
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True, **kwargs,
    )  # fmt: skip


def study_trials(directory: Path, name: str, storage: str | None = None) -> list[Any]:
    """The trials of the sweep's study, read from its storage as Optuna does."""
    if storage is None:
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        storage = JournalStorage(JournalFileBackend(str(directory / "study.journal")))
    return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)


def run_dirs(directory: Path) -> list[Path]:
    """The run directories in DIR, by listing it."""
    return sorted(p for p in directory.iterdir() if (p / "spec.yaml").is_file())


@pytest.fixture
def grid(tmp_path: Path) -> tuple[Any, Path, Any]:
    """A sweep of 3 trials, its DIR (with its ``sweep.yaml``) and its journal storage."""
    from genkit_core.sweep import load_sweep, open_storage

    sweep = load_sweep({"name": "g", "base": BASE, "grid": {"train.seed": [0, 1, 2]}})
    directory = tmp_path / "out"
    directory.mkdir()
    (directory / "sweep.yaml").write_text(yaml.safe_dump(sweep.as_dict()))
    return sweep, directory, open_storage(None, directory)
