"""Fixtures shared by every test: small specs, spec files, a fresh registry."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from genkit_core import Registry
from genkit_core.testing import TINY_SPEC, fresh_registry, tiny_spec

BASE: dict[str, Any] = tiny_spec(train={**TINY_SPEC["train"], "batch_size": 32})
"""genkit's tiny spec for plugin authors (a VAE on 256 digits), in batches of 32."""


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    torch.manual_seed(0)


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
