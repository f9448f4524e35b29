"""The examples that swap a term build into the model they describe."""

from __future__ import annotations

from pathlib import Path

import pytest

from genkit_core import build_model

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.mark.parametrize(
    ("name", "prior", "likelihood"),
    [
        pytest.param("vae_vamp", "VampPrior", "Bernoulli", id="vamp"),
        pytest.param("vae_gaussian_likelihood", "StandardNormal", "Gaussian", id="gaussian"),
    ],
)
def test_example_builds(name, prior, likelihood):
    model = build_model(EXAMPLES / f"{name}.yaml")
    assert type(model.prior).__name__ == prior
    assert type(model.likelihood).__name__ == likelihood
