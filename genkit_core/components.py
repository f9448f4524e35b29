"""``build_component``: the one factory from a spec section to a component instance."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from .errors import GenkitError, PluginError, SpecError
from .interfaces import COMPONENT_KINDS
from .registry import Registry, get_registry

__all__ = ["build_component"]


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
