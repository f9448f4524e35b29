"""The plugin registers its components, and they train in a spec, through genkit's fixtures."""

from __future__ import annotations

import math
from importlib.metadata import PackageNotFoundError, distribution

import genkit_student_t
import pytest

from genkit_core import build_model, load_spec
from genkit_core.training import Trainer


def test_the_hook_registers_both_components(genkit_registry):
    genkit_registry.register_plugin(genkit_student_t, name="student_t")
    assert not genkit_registry.problems
    assert genkit_registry.get("likelihood", "student_t").cls is genkit_student_t.StudentT
    assert genkit_registry.get("encoder", "residual_mlp").summary.startswith("Residual MLP")


def test_the_entry_point_names_this_module():
    try:
        dist = distribution("genkit-student-t")
    except PackageNotFoundError:
        pytest.skip("genkit-student-t is not installed (pip install ./examples/plugin)")
    (ep,) = [ep for ep in dist.entry_points if ep.group == "genkit"]
    assert ep.value == "genkit_student_t"


def test_unknown_parameters_are_refused_with_their_field(genkit_registry, genkit_tiny_spec):
    genkit_registry.register_plugin(genkit_student_t, name="student_t")
    spec = genkit_tiny_spec(likelihood={"type": "student_t", "dof": 3})
    with pytest.raises(Exception, match=r"likelihood\.dof"):
        load_spec(spec, registry=genkit_registry)


def test_a_tiny_vae_trains_with_both_components(genkit_registry, genkit_tiny_spec, tmp_path):
    genkit_registry.register_plugin(genkit_student_t, name="student_t")
    spec = genkit_tiny_spec(
        encoder={"type": "residual_mlp", "width": 32, "blocks": 1},
        likelihood={"type": "student_t"},
    )
    assert type(build_model(spec, registry=genkit_registry).likelihood).__name__ == "StudentT"
    result = Trainer(spec, tmp_path / "run", registry=genkit_registry, stream=None).fit()
    assert math.isfinite(result.metrics["test_loss"])
    assert (tmp_path / "run" / "model.safetensors").is_file()
