"""``build_component``: the one factory from a spec section to a component instance."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from .errors import GenkitError, PluginError, SpecError
from .interfaces import COMPONENT_KINDS
from .registry import Registry, get_registry

__all__ = ["build_component", "component_spec"]


def build_component(
    section: str, params: BaseModel, registry: Registry | None = None, **context: Any
) -> Any:
    """Instantiate the component a spec section names, with the context its interface takes.

    Raises:
        SpecError: the component refuses its parameters or context (field names the section).
        PluginError: the plugin's constructor failed in a way that is not the user's mistake.
    """
    registry = registry or get_registry()
    kind = next((k for k, about in COMPONENT_KINDS.items() if about.section == section), section)
    name = params.type  # type: ignore[attr-defined]
    component = registry.get(kind, name)
    try:
        return component.cls(params, **context)
    except SpecError as exc:
        field = f"{section}.{exc.field}" if exc.field else section
        raise SpecError(exc.detail, field=field) from None
    except GenkitError:
        raise
    except Exception as exc:
        raise PluginError(
            f"{kind} '{name}' from plugin '{component.plugin}' failed to build: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def component_spec(
    kind: str,
    spec: str | Mapping[str, Any],
    registry: Registry | None = None,
    field: str | None = None,
    example: str = "",
) -> BaseModel:
    """The validated spec of a component named where it is used (a metric on the command line,
    a metric's feature extractor): its name (``mig``), an inline YAML mapping
    (``'{type: dci, num_train: 2000}'``) or a mapping.

    Args:
        kind: the component kind (``metric``).
        spec: the name, YAML text or mapping.
        registry: where the name is looked up (genkit's registry by default).
        field: the field path errors name (default ``kind``), e.g. ``features``.
        example: a valid spec for the error message (``mig or '{type: dci}'``).

    Raises:
        SpecError: an unknown component (with the closest name), or parameters it refuses.
    """
    import yaml

    from .spec.files import _load_yaml  # yaml.safe_load, refusing alias bombs

    registry = registry or get_registry()
    field = field or kind
    data: Any = spec
    if isinstance(spec, str):
        try:
            data = _load_yaml(spec) if spec.lstrip().startswith("{") else {"type": spec}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem", None) or " ".join(str(exc).split())
            raise SpecError(f"cannot read {spec!r} as a mapping: {mark}", field=field) from None
    if not isinstance(data, Mapping) or not isinstance(data.get("type"), str):
        hint = f", e.g. {example}" if example else ""
        raise SpecError(
            f"expected a {kind}'s name or a mapping with its type{hint}, got {spec!r:.80}",
            field=field,
        )
    model = registry.spec_model(kind, data["type"])
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        path = ".".join([field, *(str(p) for p in first["loc"])])
        if first["type"] == "extra_forbidden":
            takes = ", ".join(k for k in model.model_fields if k != "type")
            message = f"{data['type']} takes no '{first['loc'][-1]}'; it takes {takes}"
        else:
            message = f"{first['msg']} (got {first.get('input')!r:.60})"
        raise SpecError(message, field=path) from None
