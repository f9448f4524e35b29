"""The pluggy registry: built-ins through the entry point, validation, duplicates, lookups."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest
from pydantic import BaseModel
from torch import Tensor

import genkit_plugins
from genkit_core import (
    Component,
    DuplicateComponentError,
    Encoder,
    Params,
    PluginError,
    Registry,
    UnknownComponentError,
    get_registry,
    hookimpl,
)
from genkit_plugins.networks.mlp import MLPEncoder


class _Plugin:
    """A plugin object whose hook returns the given components."""

    def __init__(self, *components: object):
        self.components = list(components)

    @hookimpl
    def genkit_components(self) -> list[object]:
        return self.components


class _Identity(Encoder):
    """Passes flat data through."""

    def __init__(self, params: Params, in_shape: tuple[int, ...]):
        super().__init__(params, in_shape)
        self.out_features = in_shape[0]

    def forward(self, x: Tensor) -> Tensor:
        return x


def test_builtins_register_through_the_genkit_entry_point_group():
    (ep,) = [ep for ep in entry_points(group="genkit") if ep.dist.name == "genkit-lvm"]
    assert ep.load() is genkit_plugins
    mlp = get_registry().get("encoder", "mlp")
    assert mlp.plugin == ep.name
    assert mlp.package.startswith("genkit-lvm ")


@pytest.mark.parametrize(
    ("kind", "names"),
    [
        pytest.param("encoder", {"mlp", "conv"}, id="encoder"),
        pytest.param("decoder", {"mlp", "conv"}, id="decoder"),
        pytest.param("prior", {"standard_normal"}, id="prior"),
        pytest.param("divergence", {"gaussian_kl"}, id="divergence"),
        pytest.param("likelihood", {"mse", "bernoulli"}, id="likelihood"),
        pytest.param("conditioner", {"label_concat"}, id="conditioner"),
        pytest.param("data", {"digits"}, id="data"),
        pytest.param("logger", {"csv"}, id="logger"),
    ],
)
def test_builtin_components_of_each_kind(builtins_registry: Registry, kind: str, names: set[str]):
    assert names <= set(builtins_registry.names(kind))
    assert not builtins_registry.problems


def test_duplicate_kind_and_name_is_refused_naming_both_packages(builtins_registry: Registry):
    with pytest.raises(DuplicateComponentError, match=r"genkit-lvm.*'thirdparty' \(thirdparty-pkg"):
        builtins_registry.add(
            Component("mlp", _Identity), plugin="thirdparty", package="thirdparty-pkg"
        )
    assert builtins_registry.get("encoder", "mlp").cls is MLPEncoder


def test_duplicate_from_a_plugin_is_a_problem_and_the_first_one_stays(builtins_registry: Registry):
    builtins_registry.register_plugin(
        _Plugin(Component("mlp", _Identity)), name="other", package="o 1"
    )
    (problem,) = builtins_registry.problems
    assert problem.plugin == "other"
    assert (
        "registered by both plugin 'builtins' (genkit-lvm 0.1.0) and plugin 'other' (o 1)"
        in str(problem)
    )
    assert builtins_registry.get("encoder", "mlp").cls is MLPEncoder


def test_same_name_in_different_kinds_is_fine(builtins_registry: Registry):
    assert (
        builtins_registry.get("encoder", "mlp").cls
        is not builtins_registry.get("decoder", "mlp").cls
    )


class _Abstract(Encoder):
    """Forgets forward."""


class _NotPydantic(_Identity):
    Params = dict  # type: ignore[assignment]


class _DefinesType(_Identity):
    class Params(Params):
        type: str = "x"


@pytest.mark.parametrize(
    ("component", "message"),
    [
        pytest.param(
            Component("plain", int), "not a subclass of a genkit interface", id="not-interface"
        ),
        pytest.param(
            Component("abstract", _Abstract),
            "does not implement the encoder methods: forward",
            id="abstract",
        ),
        pytest.param(
            Component("nopyd", _NotPydantic),
            "Params must be a pydantic BaseModel",
            id="params-not-pydantic",
        ),
        pytest.param(Component("Bad-Name", _Identity), "lowercase letters", id="bad-name"),
        pytest.param(
            Component("typed", _DefinesType), "must not define 'type'", id="reserved-type"
        ),
        pytest.param("mlp", "not a genkit_core.Component", id="not-a-component"),
    ],
)
def test_invalid_components_are_problems_naming_the_plugin(component: object, message: str):
    registry = Registry()
    registry.register_plugin(
        _Plugin(component, Component("identity", _Identity)),
        name="broken",
        package="broken-pkg 0.1",
    )
    (problem,) = registry.problems
    assert problem.plugin == "broken"
    assert message in problem.message
    assert registry.names("encoder") == ["identity"]  # the valid one still registered


def test_a_plugin_whose_hook_raises_is_a_problem():
    class Raising:
        @hookimpl
        def genkit_components(self) -> list[Component]:
            raise RuntimeError("boom")

    registry = Registry()
    registry.register_plugin(Raising(), name="raising")
    assert "genkit_components() raised RuntimeError: boom" in str(registry.problems[0])


def test_a_plugin_without_the_hook_is_a_problem():
    registry = Registry()
    registry.register_plugin(object(), name="empty")
    assert "registers no components" in registry.problems[0].message


def test_unknown_name_lists_known_names_and_the_closest(builtins_registry: Registry):
    with pytest.raises(
        UnknownComponentError,
        match=r"unknown encoder 'mpl'; did you mean 'mlp'\? known: conv, mlp$",
    ):
        builtins_registry.get("encoder", "mpl")


def test_load_module_imports_and_registers(tmp_path, monkeypatch):
    (tmp_path / "my_genkit_plugin.py").write_text(
        "from genkit_core import Component, hookimpl\n"
        "from genkit_plugins.networks.mlp import MLPEncoder\n"
        "class Wide(MLPEncoder):\n    '''A wide MLP.'''\n"
        "@hookimpl\ndef genkit_components():\n    return [Component('wide', Wide)]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry()
    registry.load_module("my_genkit_plugin")
    assert registry.get("encoder", "wide").summary == "A wide MLP."


def test_load_module_that_cannot_be_imported_is_a_plugin_error():
    with pytest.raises(
        PluginError, match="plugin module 'no_such_module_xyz' could not be imported"
    ):
        Registry().load_module("no_such_module_xyz")


def test_version_bumps_on_every_registration():
    registry = Registry()
    registry.add(Component("identity", _Identity))
    assert registry.version == 1
    assert isinstance(registry.spec_model("encoder", "identity")(type="identity"), BaseModel)


def test_a_plugin_name_taken_by_another_package_is_a_problem_naming_both():
    registry = Registry()
    registry.register_plugin(_Plugin(Component("identity", _Identity)), name="p", package="a 1")
    registry.register_plugin(_Plugin(Component("other", _Identity)), name="p", package="b 2")
    (problem,) = registry.problems
    assert str(problem) == (
        "plugin 'p' (b 2): the plugin name 'p' is already taken by plugin 'p' (a 1); it was not "
        "loaded. Give its entry point in [project.entry-points.genkit] a name of its own."
    )
    assert registry.names("encoder") == ["identity"]


def test_a_hook_with_a_wrong_signature_is_a_one_line_problem():
    class WrongSignature:
        @hookimpl
        def genkit_components(self, registry):
            return []

    registry = Registry()
    registry.register_plugin(WrongSignature(), name="wrong", package="w 1")
    (problem,) = registry.problems
    assert "\n" not in str(problem)
    assert "genkit_components" in problem.message
    assert "registry" in problem.message


def test_unknown_name_of_a_refused_component_says_why_it_was_refused():
    registry = Registry()
    registry.register_plugin(_Plugin(Component("half", _Abstract)), name="half", package="h 0.1")
    with pytest.raises(
        UnknownComponentError,
        match=r"unknown encoder 'half'; known: none; encoder 'half' was refused: plugin 'half' "
        r"\(h 0.1\): component 'half' .* does not implement the encoder methods: forward",
    ):
        registry.get("encoder", "half")
