"""What a pydantic parameter model's fields say: key, type, default, constraints, description.

:func:`parameters` reads them from the model itself (annotations, ``Field`` metadata, defaults),
so what the reference shows is what validation enforces.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types as at
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined, to_jsonable_python

__all__ = ["ParameterDoc", "parameters", "type_name", "yaml_value"]


@dataclass(frozen=True)
class ParameterDoc:
    """One spec key of a component: ``anneal.steps`` for a field of a nested model."""

    name: str
    type: str
    default: str  # YAML, or "required"
    constraints: str
    description: str


def parameters(model: type[BaseModel], skip: frozenset[str] = frozenset()) -> list[ParameterDoc]:
    """The spec keys of a parameter model, nested models' fields following their own row."""
    return list(_parameters(model, skip, prefix=""))


def _parameters(
    model: type[BaseModel], skip: frozenset[str], prefix: str
) -> Iterator[ParameterDoc]:
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        yield ParameterDoc(
            name=prefix + name,
            type=type_name(info.annotation),
            default=_default(info),
            constraints=", ".join(_constraints(info.metadata, info.annotation)),
            description=" ".join((info.description or "").split()),
        )
        nested = _nested_model(info.annotation)
        if nested is not None:
            inner, separator = nested
            yield from _parameters(inner, frozenset(), prefix + name + separator)


def _strip(tp: Any) -> Any:
    return get_args(tp)[0] if get_origin(tp) is Annotated else tp


def _members(tp: Any) -> tuple[Any, ...]:
    return get_args(tp) if get_origin(tp) in (Union, types.UnionType) else (tp,)


def type_name(tp: Any) -> str:
    tp = _strip(tp)
    origin, args = get_origin(tp), get_args(tp)
    if tp is type(None):
        return "null"
    if origin in (Union, types.UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is Literal:
        return " | ".join(yaml_value(a) for a in args)
    if origin is not None:
        inner = ", ".join("..." if a is Ellipsis else type_name(a) for a in args)
        return f"{getattr(origin, '__name__', str(origin))}[{inner}]"
    return getattr(tp, "__name__", str(tp))


def _nested_model(tp: Any) -> tuple[type[BaseModel], str] | None:
    """The parameter model inside ``M``, ``M | None`` or ``list[M]``, and how keys join it."""
    for member in _members(_strip(tp)):
        member = _strip(member)
        if isinstance(member, type) and issubclass(member, BaseModel):
            return member, "."
        if get_origin(member) is list:
            inner = _strip(get_args(member)[0])
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                return inner, "[]."
    return None


_BOUNDS = {at.Gt: ("gt", "> {}"), at.Ge: ("ge", "≥ {}"), at.Lt: ("lt", "< {}"),
           at.Le: ("le", "≤ {}")}  # fmt: skip


def _constraints(metadata: list[Any], tp: Any, what: str = "") -> Iterator[str]:
    """Readable constraints of a field: its own metadata, then those inside its annotation."""
    for item in metadata:
        if isinstance(item, FieldInfo):
            yield from _constraints(item.metadata, None, what)
        elif type(item) in _BOUNDS:
            attr, template = _BOUNDS[type(item)]
            yield what + template.format(_number(getattr(item, attr)))
        elif isinstance(item, at.MinLen):
            yield f"{what}at least {item.min_length} long"
        elif isinstance(item, at.MaxLen):
            yield f"{what}at most {item.max_length} long"
        elif getattr(item, "pattern", None):
            yield f"{what}matches `{item.pattern}`"
    if tp is None:
        return
    if get_origin(tp) is Annotated:
        yield from _constraints(list(get_args(tp)[1:]), get_args(tp)[0], what)
    elif get_origin(tp) in (Union, types.UnionType):
        for member in get_args(tp):
            yield from _constraints([], member, what)
    elif get_origin(tp) is list:
        for member in get_args(tp):
            yield from _constraints([], member, "each item ")
    elif get_origin(tp) is tuple:
        args = [a for a in get_args(tp) if a is not Ellipsis]
        found = [list(_constraints([], a)) for a in args]
        if all(f == found[0] for f in found):
            yield from (f"each item {c}" for c in found[0] if found[0])
        else:
            for position, items in enumerate(found):
                yield from (f"item {position} {c}" for c in items)


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}".replace("e+0", "e").replace("e+", "e").replace("e-0", "e-")
    return f"{value:,}" if isinstance(value, int) else str(value)


def _default(info: FieldInfo) -> str:
    if info.default is PydanticUndefined and info.default_factory is None:
        return "required"
    return yaml_value(info.get_default(call_default_factory=True))


def yaml_value(value: Any) -> str:
    """A value as it would be written in a spec (YAML flow style)."""
    plain = to_jsonable_python(value)
    text = yaml.safe_dump(plain, default_flow_style=True, width=1 << 16, sort_keys=False)
    return text.removesuffix("\n").removesuffix("\n...").strip()
