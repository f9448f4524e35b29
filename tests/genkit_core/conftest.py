"""Fixtures of the core's tests: a run trained on data with ground-truth factors."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from genkit_core import Component, Metric, Registry
from genkit_core.testing import FactorImages, fresh_registry, tiny_spec


class Counting(Metric):
    """The spread of the codes over the data's factors; counts its calls (``Counting.calls``)."""

    scores = ("spread",)
    needs_factors = True
    calls: ClassVar[int] = 0

    def __call__(self, model: Any, data: Any, random_state: np.random.Generator) -> dict:
        type(self).calls += 1
        factors = data.factors.sample_factors(64, random_state)
        x = data.factors.sample_observations_from_factors(factors, random_state)
        return {"spread": float(self.codes(model, x).std())}


FACTOR_RUN = tiny_spec(
    latent_dim=3,
    data={"type": "factor_images"},
    train={"epochs": 1, "batch_size": 32, "seed": 0, "device": "cpu", "progress": False},
)
"""A VAE of 3 latents on 96 factor images, one epoch."""


@pytest.fixture(scope="module")
def factor_registry() -> Iterator[Registry]:
    """genkit's built-ins plus ``data: {type: factor_images}`` and ``metric: counting``, as the
    process-wide registry for the module's tests."""
    registry = fresh_registry()
    registry.add(Component("factor_images", FactorImages), plugin="tests")
    registry.add(Component("counting", Counting), plugin="tests")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("genkit_core.registry._default", registry)
        yield registry


@pytest.fixture(scope="module")
def factor_run(factor_registry: Registry, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run on factor images (trained once per module)."""
    from genkit_core.training import Trainer

    run_dir = tmp_path_factory.mktemp("factor") / "run"
    Trainer(FACTOR_RUN, run_dir, stream=None).fit()
    return run_dir


@pytest.fixture
def factor_spec() -> dict[str, Any]:
    """The spec of :func:`factor_run` (a copy)."""
    return copy.deepcopy(FACTOR_RUN)
