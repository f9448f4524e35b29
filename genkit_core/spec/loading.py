"""``load_spec``: from a file, mapping or spec to a validated, resolved :class:`ModelSpec`."""

from __future__ import annotations

import difflib
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..errors import PluginError, SpecError, shown
from ..registry import Registry, get_registry
from .files import STDIN_NAME, Override, apply_overrides, read_spec_file
from .model_spec import LIST_SECTIONS, SECTIONS, ModelSpec, spec_model

__all__ = ["SpecValidationError", "load_spec", "resolve"]

SpecSource = str | Path | Mapping[str, Any] | ModelSpec


class SpecValidationError(SpecError):
    """A spec failed validation; ``errors`` holds every ``(field, message)`` pair found.

    ``sources`` says, for each error, where the bad value came from: the spec file (``source``)
    or the command line (``--set train.compile=maybe``) when an override set it.
    """

    def __init__(
        self,
        errors: list[tuple[str, str]],
        source: str | None = None,
        sources: list[str | None] | None = None,
    ):
        self.errors = errors
        self.sources = sources or [source] * len(errors)
        if len(errors) == 1:
            super().__init__(errors[0][1], field=errors[0][0] or None, source=self.sources[0])
        else:
            joined = "; ".join(
                (f"{origin}: " if origin not in (None, source) else "") + (f"{f}: {m}" if f else m)
                for (f, m), origin in zip(errors, self.sources, strict=True)
            )
            super().__init__(f"{len(errors)} problems: {joined}", source=source)


def load_spec(
    source: SpecSource, overrides: Iterable[str] = (), registry: Registry | None = None
) -> ModelSpec:
    """Read, override, validate and resolve a spec (defaults filled in).

    Args:
        source: a spec file (YAML, JSON or TOML), a mapping, or a spec to re-validate.
        overrides: ``dotted.key=value`` strings, applied before validation.
        registry: where component names are looked up (the process-wide one by default).

    Raises:
        SpecError: the file cannot be read, or the spec is invalid (every error, each with the
            path of its field), or a module in ``plugins:`` cannot be loaded.
    """
    registry = registry or get_registry()
    name: str | None = None
    if isinstance(source, ModelSpec):
        data: dict[str, Any] = source.model_dump(mode="json")
    elif isinstance(source, Mapping):
        data = dict(source)
    else:
        name = STDIN_NAME if str(source) == "-" else str(source)
        data = read_spec_file(source)
    changes = [Override(text) for text in overrides]
    data = apply_overrides(data, changes, component_sections=SECTIONS)
    _load_plugins(data.get("plugins"), registry, name)
    try:
        return spec_model(registry).model_validate(data)
    except ValidationError as exc:
        errors = [_describe(e, data, registry) for e in exc.errors(include_url=False)]
        sources = [_origin(field, changes, name) for field, _ in errors]
        raise SpecValidationError(errors, source=name, sources=sources) from None
    except RecursionError:
        raise SpecError("the spec is nested too deeply", source=name) from None


def _origin(field: str, overrides: list[Override], name: str | None) -> str | None:
    """The ``--set`` that a problem at ``field`` is about (the last, as it wins), else the file."""
    return next((o.text for o in reversed(overrides) if o.covers(field)), name)


def resolve(spec: ModelSpec) -> dict[str, Any]:
    """The complete spec as plain data (every default written out), ready to save."""
    return spec.model_dump(mode="json")


def _load_plugins(plugins: Any, registry: Registry, source: str | None) -> None:
    if plugins is None:
        return
    if not isinstance(plugins, list) or not all(isinstance(p, str) for p in plugins):
        message = "must be a list of module names, e.g. [my_package.genkit_plugin]"
        raise SpecError(message, field="plugins", source=source)
    for i, module in enumerate(plugins):
        try:
            registry.load_module(module)
        except PluginError as exc:
            raise SpecError(str(exc), field=f"plugins.{i}", source=source) from None


def _describe(error: Any, data: dict[str, Any], registry: Registry) -> tuple[str, str]:
    """One pydantic error as ``(field path, message)``, in genkit's words."""
    error_type = error["type"]
    if error_type == "inconsistent_spec":
        return error["ctx"]["field"], error["ctx"]["message"]
    loc = _without_tags(list(error["loc"]), registry)
    field = ".".join(str(p) for p in loc)
    section_kind = _kind_at(loc)
    if error_type == "union_tag_invalid" and section_kind:
        return field, registry.unknown_message(section_kind, error["ctx"]["tag"])
    if error_type == "union_tag_not_found" and section_kind:
        known = ", ".join(registry.names(section_kind))
        return field, f"missing 'type': name the {section_kind} to use (known: {known})"
    if error_type == "model_attributes_type" and section_kind:
        example = (registry.names(section_kind) or ["name"])[0]
        got = _short(error["input"])
        return field, f"must be a mapping like {{type: {example}}}, got {got}"
    if error_type == "extra_forbidden":
        return field, _unknown_field(loc, data, registry)
    if error_type == "missing":
        return field, "required, but missing"
    return field, f"{error['msg']} (got {_short(error.get('input'))})"


def _without_tags(loc: list[Any], registry: Registry) -> list[Any]:
    """Drop the union tag pydantic puts in paths: ``encoder.mlp.hidden`` -> ``encoder.hidden``."""
    if not loc:
        return loc
    kind = SECTIONS.get(loc[0]) or LIST_SECTIONS.get(loc[0])
    position = 1 if loc[0] in SECTIONS else 2
    if kind and len(loc) > position and loc[position] in registry.names(kind):
        del loc[position]
    return loc


def _kind_at(loc: list[Any]) -> str | None:
    if len(loc) == 1 and loc[0] in SECTIONS:
        return SECTIONS[loc[0]]
    if len(loc) == 2 and loc[0] in LIST_SECTIONS and isinstance(loc[1], int):
        return LIST_SECTIONS[loc[0]]
    return None


def _unknown_field(loc: list[Any], data: dict[str, Any], registry: Registry) -> str:
    name = str(loc[-1])
    allowed = _fields_at(loc[:-1], data, registry)
    if not allowed:
        return f"unknown field '{name}'"
    close = difflib.get_close_matches(name, allowed, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ";"
    return f"unknown field '{name}'{hint} allowed: {', '.join(sorted(allowed))}"


def _fields_at(path: list[Any], data: Any, registry: Registry) -> list[str]:
    """The field names a spec accepts at ``path`` (best effort, for suggestions)."""
    model: type[BaseModel] | None = ModelSpec
    node = data
    for depth, part in enumerate(path):
        node = (
            node.get(part)
            if isinstance(node, dict)
            else node[part]
            if _indexable(node, part)
            else None
        )
        if isinstance(part, int):
            continue
        kind = SECTIONS.get(part) if depth == 0 else None
        if kind is None and depth == 0 and part in LIST_SECTIONS:
            kind = LIST_SECTIONS[part]
        if kind is not None:
            model = _component_model(kind, path, data, registry)
            continue
        model = _nested_model(model, part)
        if model is None:
            return []
    return [n for n in model.model_fields if n != "type" or model is not ModelSpec] if model else []


def _component_model(
    kind: str, path: list[Any], data: Any, registry: Registry
) -> type[BaseModel] | None:
    section = data.get(path[0]) if isinstance(data, dict) else None
    if isinstance(section, list) and len(path) > 1 and _indexable(section, path[1]):
        section = section[path[1]]
    name = section.get("type") if isinstance(section, dict) else None
    if not isinstance(name, str) or name not in registry.names(kind):
        return None
    return registry.spec_model(kind, name)


def _nested_model(model: type[BaseModel] | None, field: str) -> type[BaseModel] | None:
    if model is None or field not in model.model_fields:
        return None
    annotation = model.model_fields[field].annotation
    candidates = [annotation, *typing.get_args(annotation)]
    return next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)


def _indexable(node: Any, part: Any) -> bool:
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def _short(value: Any) -> str:
    return shown(value, limit=60)
