"""genkit's pytest plugin: its fixtures are available to any test suite once genkit is installed."""

from __future__ import annotations

from importlib.metadata import entry_points

from genkit_core import Component, Registry, get_registry, load_spec
from genkit_core.testing import TINY_SPEC
from genkit_plugins.networks.mlp import MLPEncoder


class _Wide(MLPEncoder):
    """A wide MLP."""


def test_the_plugin_is_declared_as_a_pytest11_entry_point():
    (ep,) = [ep for ep in entry_points(group="pytest11") if ep.value.startswith("genkit_core")]
    assert ep.value == "genkit_core.testing.pytest_plugin"


def test_genkit_registry_is_fresh_and_holds_the_builtins(genkit_registry: Registry):
    assert genkit_registry is not get_registry()
    assert not genkit_registry.problems
    assert "mlp" in genkit_registry.names("encoder")
    genkit_registry.add(Component("wide", _Wide))
    assert "wide" not in get_registry().names("encoder")


def test_genkit_tiny_spec_replaces_sections_and_validates(genkit_registry, genkit_tiny_spec):
    genkit_registry.add(Component("wide", _Wide))
    spec = load_spec(genkit_tiny_spec(encoder={"type": "wide"}), registry=genkit_registry)
    assert spec.encoder.type == "wide"
    assert TINY_SPEC["encoder"]["type"] == "mlp"  # the template is never changed
