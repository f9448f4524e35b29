"""The component registry, built on pluggy.

Plugins are found through the ``genkit`` entry-point group (genkit's own built-ins included) or
named in a spec's ``plugins:`` list. Each plugin's :func:`~genkit_core.hookspecs.genkit_components`
hook is called on its own, so a plugin that fails to import, returns something invalid or
collides with another is reported by name while the others keep working.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import Distribution, EntryPoint, entry_points
from types import ModuleType
from typing import Any, Literal, cast

import pluggy
from packaging.requirements import InvalidRequirement, Requirement
from pydantic import BaseModel, ConfigDict

from . import hookspecs
from ._version import DISTRIBUTION, __version__
from .docstrings import one_line_summary
from .errors import DuplicateComponentError, PluginError, UnknownComponentError
from .interfaces import (
    KINDS,
    DataParams,
    DataSource,
    Divergence,
    DivergenceParams,
    Metric,
    MetricParams,
    Objective,
    ObjectiveParams,
)

__all__ = ["Component", "PluginProblem", "Registry", "get_registry"]

ENTRY_POINT_GROUP = "genkit"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_REQUIRED_PARAMS_BASE: dict[type, type[BaseModel]] = {
    Divergence: DivergenceParams,
    DataSource: DataParams,
    Objective: ObjectiveParams,
    Metric: MetricParams,
}


@dataclass(frozen=True)
class Component:
    """A named component: what ``{type: <name>}`` in a spec resolves to.

    Args:
        name: the name specs use (lowercase letters, digits, underscores).
        cls: the class, a subclass of one of genkit's interfaces, with ``cls.Params``.
        plugin: the plugin that registered it (filled in by the registry).
        package: the distribution that provides it, ``name version`` (filled in by the registry).
    """

    name: str
    cls: type
    plugin: str = ""
    package: str = ""

    @property
    def kind(self) -> str:
        """The interface kind: ``encoder``, ``decoder``, ``prior``, ..."""
        return _kind_of(self.cls) or "?"

    @property
    def summary(self) -> str:
        """The docstring's first sentence as plain text (:func:`~.docstrings.one_line_summary`)."""
        return one_line_summary(self.cls)


@dataclass(frozen=True)
class PluginProblem:
    """Why a plugin, or one of its components, was not registered."""

    plugin: str
    package: str
    message: str
    component: tuple[str, str] | None = None
    """The kind and name of the refused component, when the problem is one component."""

    def __str__(self) -> str:
        return f"{_plugin_label(self.plugin, self.package)}: {self.message}"


@dataclass
class Registry:
    """Every registered component, by kind and name, and the problems met while loading plugins."""

    problems: list[PluginProblem] = field(default_factory=list)
    _components: dict[tuple[str, str], Component] = field(default_factory=dict)
    _spec_models: dict[tuple[str, str], type[BaseModel]] = field(default_factory=dict)
    _plugins: dict[str, str] = field(default_factory=dict)  # plugin name -> its package
    _imports_refused: str | None = None  # why load_module may not import code now
    version: int = 0
    derived: dict[str, tuple[int, Any]] = field(default_factory=dict)
    """Objects built from the components (the spec model), with the ``version`` they were built
    at. Kept on the registry itself: a cache keyed by ``id(registry)`` served a new registry the
    stale schema of a collected one that had had the same address.
    """

    def __post_init__(self) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)

    # --- loading -------------------------------------------------------------------------

    def load_entry_points(
        self, group: str = ENTRY_POINT_GROUP, distribution: str | None = None
    ) -> None:
        """Import and register every installed plugin of the entry-point group, genkit's first
        (only those of one ``distribution``, when given: ``genkit-lvm`` for the built-ins).
        """
        for ep in _sorted_unique(entry_points(group=group)):
            if distribution is not None and _dist_name(ep) != distribution:
                continue
            package = _describe(ep.dist)
            incompatible = _incompatibility(ep.dist)
            if incompatible:
                self.problems.append(PluginProblem(ep.name, package, incompatible))
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # any import failure of a third party's code
                message = f"failed to import '{ep.value}': {type(exc).__name__}: {exc}"
                self.problems.append(PluginProblem(ep.name, package, message))
                continue
            self.register_plugin(plugin, name=ep.name, package=package)

    @contextmanager
    def refusing_imports(self, fix: str) -> Iterator[None]:
        """Inside the block, :meth:`load_module` imports no module that is not imported yet.

        Commands that read files from elsewhere (``genkit eval`` of a run someone sent) use it:
        a run's ``spec.yaml`` may name any module in ``plugins:``, and importing one runs its
        code. Installed plugins (entry points) are imported already, so they still work.
        ``fix`` ends the refusal's message (``pass --trust-plugins``).
        """
        before, self._imports_refused = self._imports_refused, fix
        try:
            yield
        finally:
            self._imports_refused = before

    def load_module(self, module_name: str) -> None:
        """Import a module named in a spec's ``plugins:`` list and register its components.

        Raises:
            PluginError: the module cannot be imported or registers nothing valid, or it is not
                imported yet inside :meth:`refusing_imports`.
        """
        if module_name in self._plugins:
            return
        if self._imports_refused is not None and module_name not in sys.modules:
            raise PluginError(
                f"plugin module '{module_name}' is not an installed genkit plugin, and importing "
                f"it would run its code; {self._imports_refused}"
            )
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            raise PluginError(
                f"plugin module '{module_name}' could not be imported: {type(exc).__name__}: "
                f"{exc}. Check that it is on the Python path (PYTHONPATH) or installed."
            ) from exc
        before = len(self.problems)
        self.register_plugin(module, name=module_name, package="")
        if len(self.problems) > before:
            raise PluginError("; ".join(str(p) for p in self.problems[before:]))

    def register_plugin(self, plugin: ModuleType | object, name: str, package: str = "") -> None:
        """Register the components a plugin's ``genkit_components`` hook returns.

        Problems are recorded in :attr:`problems` (naming the plugin) rather than raised, so one
        broken plugin never stops the others.
        """
        if name in self._plugins:
            taken = _plugin_label(name, self._plugins[name])
            message = (
                f"the plugin name '{name}' is already taken by {taken}; it was not loaded. "
                "Give its entry point in [project.entry-points.genkit] a name of its own."
            )
            self.problems.append(PluginProblem(name, package, message))
            return
        try:
            self._pm.register(plugin, name=name)
        except Exception as exc:  # pluggy's PluginValidationError: a hook with a wrong signature
            message = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
            self.problems.append(PluginProblem(name, package, message))
            return
        self._plugins[name] = package
        impls = [i for i in self._pm.hook.genkit_components.get_hookimpls() if i.plugin is plugin]
        if not impls:
            message = "registers no components: it needs a @hookimpl function `genkit_components`"
            self.problems.append(PluginProblem(name, package, message))
            return
        for impl in impls:
            try:
                returned = impl.function()
            except Exception as exc:
                message = f"genkit_components() raised {type(exc).__name__}: {exc}"
                self.problems.append(PluginProblem(name, package, message))
                continue
            for item in _as_list(returned):
                self._try_add(item, plugin=name, package=package)

    def _try_add(self, item: Any, plugin: str, package: str) -> None:
        try:
            self.add(item, plugin=plugin, package=package)
        except PluginError as exc:
            kind = _kind_of(item.cls) if isinstance(item, Component) else None
            refused = (kind, item.name) if kind is not None else None
            self.problems.append(PluginProblem(plugin, package, str(exc), refused))

    def add(self, component: Component, plugin: str = "", package: str = "") -> Component:
        """Validate and register one component.

        Raises:
            PluginError: the component is invalid (not a Component, wrong base class, abstract
                methods left, a parameter model that is not pydantic, a bad name).
            DuplicateComponentError: the kind and name are taken; the message names both packages.
        """
        if not isinstance(component, Component):
            raise PluginError(
                f"returned {component!r}, not a genkit_core.Component(name, cls); "
                "genkit_components() must return a list of Component"
            )
        component = Component(component.name, component.cls, plugin or component.plugin, package)
        spec_model = _validate(component)
        key = (component.kind, component.name)
        if key in self._components:
            other = self._components[key]
            raise DuplicateComponentError(
                f"{component.kind} '{component.name}' is registered by both "
                f"{_origin(other)} and {_origin(component)}; the second was ignored. "
                "Rename one of them or uninstall one package."
            )
        self._components[key] = component
        self._spec_models[key] = spec_model
        self.version += 1
        return component

    # --- lookup --------------------------------------------------------------------------

    def get(self, kind: str, name: str) -> Component:
        """The component of this kind and name.

        Raises:
            UnknownComponentError: listing the known names of that kind and the closest match.
        """
        try:
            return self._components[(kind, name)]
        except KeyError:
            raise UnknownComponentError(self.unknown_message(kind, name), field=kind) from None

    def spec_model(self, kind: str, name: str) -> type[BaseModel]:
        """The spec section model of a component: its ``Params`` plus ``type: Literal[name]``."""
        self.get(kind, name)
        return self._spec_models[(kind, name)]

    def names(self, kind: str) -> list[str]:
        """Registered names of one kind, sorted."""
        return sorted(n for k, n in self._components if k == kind)

    def components(self, kind: str | None = None) -> list[Component]:
        """Registered components (of one kind, or all), sorted by kind and name."""
        found = [c for (k, _), c in self._components.items() if kind in (None, k)]
        return sorted(found, key=lambda c: (list(KINDS).index(c.kind), c.name))

    def unknown_message(self, kind: str, name: object) -> str:
        """``unknown encoder 'mpl'; did you mean 'mlp'? known: conv, mlp``."""
        known = self.names(kind)
        close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else ";"
        message = f"unknown {kind} '{name}'{hint} known: {', '.join(known) or 'none'}"
        refused = [p for p in self.problems if p.component == (kind, name)]
        if refused:
            message += f"; {kind} '{name}' was refused: {refused[0]}"
        elif self.problems:
            failed = sorted({p.plugin for p in self.problems})
            message += f" (plugins with problems: {', '.join(failed)}; see `genkit plugins`)"
        return message


def _kind_of(cls: Any) -> str | None:
    if not isinstance(cls, type):
        return None
    return next((kind for kind, base in KINDS.items() if issubclass(cls, base)), None)


def _validate(component: Component) -> type[BaseModel]:
    """Check a component against its interface and build its spec section model."""
    cls, name = component.cls, cast(object, component.name)  # a plugin may pass anything
    label = f"component '{name}' ({getattr(cls, '__qualname__', cls)!s})"
    if not isinstance(name, str) or not _NAME.match(name):
        raise PluginError(
            f"{label}: name must be lowercase letters, digits and underscores, got {name!r}"
        )
    kind = _kind_of(cls)
    if kind is None:
        bases = ", ".join(b.__name__ for b in KINDS.values())
        raise PluginError(f"{label} is not a subclass of a genkit interface ({bases})")
    if inspect.isabstract(cls):
        # set on every abstract class; typeshed's ``type`` does not declare it
        missing = ", ".join(sorted(cls.__abstractmethods__))  # type: ignore[attr-defined]
        raise PluginError(f"{label} does not implement the {kind} methods: {missing}")
    params = getattr(cls, "Params", None)
    if not (isinstance(params, type) and issubclass(params, BaseModel)):
        raise PluginError(f"{label}: Params must be a pydantic BaseModel subclass, got {params!r}")
    required = _REQUIRED_PARAMS_BASE.get(KINDS[kind])
    if required is not None and not issubclass(params, required):
        raise PluginError(
            f"{label}: a {kind}'s Params must subclass genkit_core.{required.__name__}"
        )
    if "type" in params.model_fields:
        raise PluginError(f"{label}: Params must not define 'type'; genkit adds it")
    try:
        return _section_model(kind, name, params, inspect.getdoc(cls) or "")
    except Exception as exc:  # pydantic refuses the parameter model
        raise PluginError(f"{label}: its Params cannot be used in a spec: {exc}") from exc


def _section_model(kind: str, name: str, params: type[BaseModel], doc: str) -> type[BaseModel]:
    """``Params`` plus ``type: Literal[name]``; its JSON Schema description is the whole ``doc``."""
    title = f"{kind}:{name}"
    namespace = {
        "__annotations__": {"type": Literal[name]},
        "__module__": params.__module__,
        "__doc__": doc or params.__doc__,
        "model_config": ConfigDict(extra="forbid", title=title),
    }
    return type(f"{params.__name__}_{kind}_{name}", (params,), namespace)


def _origin(component: Component) -> str:
    return _plugin_label(component.plugin, component.package)


def _plugin_label(plugin: str, package: str) -> str:
    """``plugin 'name' (package version)``, or without the package when there is none."""
    return f"plugin '{plugin}'" + (f" ({package})" if package else "")


def _as_list(returned: Any) -> list[Any]:
    if returned is None:
        return []
    if isinstance(returned, list | tuple):
        return list(returned)
    return [returned]


def _describe(dist: Distribution | None) -> str:
    return f"{dist.name} {dist.version}" if dist is not None else ""


def _sorted_unique(eps: Any) -> list[EntryPoint]:
    """Entry points once each (a package on two path entries shows twice), genkit's own first."""
    seen: dict[tuple[str, str, str], EntryPoint] = {}
    for ep in eps:
        dist = ep.dist.name if ep.dist is not None else ""
        seen.setdefault((dist, ep.name, ep.value), ep)
    return sorted(seen.values(), key=lambda ep: (_dist_name(ep) != DISTRIBUTION, _dist_name(ep)))


def _dist_name(ep: EntryPoint) -> str:
    return ep.dist.name if ep.dist is not None else ""


def _incompatibility(dist: Distribution | None) -> str | None:
    """Why a plugin's declared genkit version range excludes this genkit, or None."""
    if dist is None:
        return None
    for line in dist.requires or []:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if requirement.name.lower().replace("_", "-") != DISTRIBUTION:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        if not requirement.specifier.contains(__version__, prereleases=True):
            return (
                f"requires {DISTRIBUTION}{requirement.specifier} but {__version__} is installed; "
                "it was not loaded. Install a version of the plugin made for this genkit."
            )
    return None


_default: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, loading installed plugins on first use."""
    global _default
    if _default is None:
        registry = Registry()
        registry.load_entry_points()
        _default = registry
    return _default
