"""The component reference: every registered component, its docstring and its parameters.

One renderer serves both readers: ``genkit describe KIND NAME`` prints :func:`component_text`,
and the documentation site's hook (``docs/hooks/component_reference.py``) writes the pages of
:func:`reference_pages` at build time, so a plugin installed on the machine that builds the site
appears in it. Everything comes from the registry: kinds from
:data:`~genkit_core.interfaces.KINDS`, summaries and formulas from class docstrings, and each
parameter's type, default, constraints and description from the pydantic ``Params`` model.
"""

from __future__ import annotations

import inspect
import re
import textwrap
import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types as at
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined, to_jsonable_python

from .interfaces import KINDS
from .registry import Component, Registry

__all__ = [
    "ComponentDoc",
    "ParameterDoc",
    "ReferencePage",
    "component_markdown",
    "component_text",
    "describe",
    "parameters",
    "reference_pages",
    "rst_to_markdown",
]


@dataclass(frozen=True)
class ParameterDoc:
    """One spec key of a component: ``anneal.steps`` for a field of a nested model."""

    name: str
    type: str
    default: str  # YAML, or "required"
    constraints: str
    description: str


@dataclass(frozen=True)
class ComponentDoc:
    """What the reference says about one component."""

    kind: str
    name: str
    package: str
    summary: str  # the docstring's first paragraph, Markdown
    details: str  # the rest of the docstring, Markdown
    parameters: list[ParameterDoc]  # its own
    common: list[ParameterDoc]  # those every component of its kind takes
    example: str  # a spec line


@dataclass(frozen=True)
class ReferencePage:
    """A generated page of the site: its path under the reference folder, title and Markdown."""

    path: str
    title: str
    text: str


# --- docstrings ----------------------------------------------------------------------------

_ROLE = re.compile(r":(math|class|func|meth|attr|mod|data|obj|exc):`([^`]*)`", re.S)
_LITERAL = re.compile(r"``(.+?)``", re.S)
_MATH_PARAGRAPH = re.compile(r"^\s*:math:`([^`]*)`([,.;]?)\s*$", re.S)


def rst_to_markdown(text: str) -> str:
    r"""Turn the reST of genkit's docstrings into Markdown.

    ``:math:`x``` becomes ``$x$`` (``$$x$$`` when it fills a paragraph, as does a
    ``.. math::`` block), a cross-reference role such as ``:class:`~a.B``` becomes ```B```,
    ````x```` becomes ```x```, and the indented block after a paragraph ending in ``::`` a code
    block.
    """
    out: list[str] = []
    literal = False
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        if literal and paragraph[:1].isspace():
            out.append(f"```\n{textwrap.dedent(paragraph).strip()}\n```")
            continue
        literal = paragraph.rstrip().endswith("::")
        if paragraph.startswith(".. math::"):
            body = textwrap.dedent(paragraph.removeprefix(".. math::").strip("\n")).strip()
            out.append(f"$$\n{body}\n$$")
        elif literal:
            out.append(_paragraph(paragraph.rstrip()[:-1]))
        else:
            out.append(_paragraph(paragraph))
    return "\n\n".join(p for p in out if p.strip())


def _paragraph(text: str) -> str:
    whole = _MATH_PARAGRAPH.match(text)
    if whole:
        return f"$${_one_line(whole.group(1))}$${whole.group(2)}"

    def role(match: re.Match[str]) -> str:
        name, body = match.groups()
        if name == "math":
            return f"${_one_line(body)}$"
        return f"`{body.lstrip('~').split('.')[-1] if body.startswith('~') else body}`"

    pieces = re.split(r"(:math:`[^`]*`)", text)  # no ``literal`` pass inside formulas
    out = [p if i % 2 else _LITERAL.sub(r"`\1`", p) for i, p in enumerate(pieces)]
    return _ROLE.sub(role, "".join(out))


def _one_line(text: str) -> str:
    return " ".join(text.split())


_SECTION = re.compile(r"^(Args|Arguments|Attributes|Returns|Raises|Examples?|Notes?):\s*$", re.M)


def _docstring(cls: type) -> tuple[str, str]:
    """A class docstring's first paragraph and the rest up to its Google sections (``Args:``)."""
    doc = _SECTION.split(inspect.getdoc(cls) or "", maxsplit=1)[0]
    first, _, rest = doc.partition("\n\n")
    return " ".join(first.split()), rest.strip()


# --- parameters ----------------------------------------------------------------------------


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
            type=_type_name(info.annotation),
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


def _type_name(tp: Any) -> str:
    tp = _strip(tp)
    origin, args = get_origin(tp), get_args(tp)
    if tp is type(None):
        return "null"
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is Literal:
        return " | ".join(_yaml(a) for a in args)
    if origin is not None:
        inner = ", ".join("..." if a is Ellipsis else _type_name(a) for a in args)
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
    return _yaml(info.get_default(call_default_factory=True))


def _yaml(value: Any) -> str:
    """A value as it would be written in a spec (YAML flow style)."""
    plain = to_jsonable_python(value)
    text = yaml.safe_dump(plain, default_flow_style=True, width=1 << 16, sort_keys=False)
    return text.removesuffix("\n").removesuffix("\n...").strip()


# --- components ----------------------------------------------------------------------------


def describe(component: Component) -> ComponentDoc:
    """Everything the reference says about a registered component."""
    common_model = _common_model(component.kind)
    common = set(common_model.model_fields) if common_model is not None else set()
    params_model: type[BaseModel] = component.cls.Params  # type: ignore[attr-defined]
    summary, rest = _docstring(component.cls)
    return ComponentDoc(
        kind=component.kind,
        name=component.name,
        package=component.package or f"plugin module {component.plugin}",
        summary=rst_to_markdown(summary),
        details=rst_to_markdown(rest),
        parameters=parameters(params_model, skip=frozenset(common)),
        common=[p for p in parameters(params_model) if p.name.split(".")[0] in common],
        example=_example(component, params_model, frozenset(common)),
    )


def _common_model(kind: str) -> type[BaseModel] | None:
    """The parameter model every component of a kind extends (``DataParams``), if it has fields."""
    model = getattr(KINDS[kind], "Params", None)
    if isinstance(model, type) and issubclass(model, BaseModel) and model.model_fields:
        return model
    return None


def _example(component: Component, params: type[BaseModel], common: frozenset[str]) -> str:
    """``encoder: {type: mlp, hidden: [512], activation: relu}``: its own keys, defaults filled.

    A required key shows the first of its ``examples``, or ``<type>`` when it has none.
    """
    values: dict[str, Any] = {"type": component.name}
    for name, info in params.model_fields.items():
        if name in common:
            continue
        if info.is_required():
            values[name] = info.examples[0] if info.examples else f"<{_type_name(info.annotation)}>"
        else:
            default = info.get_default(call_default_factory=True)
            if default is not None:
                values[name] = default
    section, listed = _section(component.kind)
    body = _yaml(values)
    return f"{section}: [{body}]" if listed else f"{section}: {body}"


def _section(kind: str) -> tuple[str, bool]:
    """The spec section a kind's components go in, and whether it holds a list of them."""
    from .spec.model_spec import LIST_SECTIONS, SECTIONS

    for section, section_kind in SECTIONS.items():
        if section_kind == kind:
            return section, False
    for section, section_kind in LIST_SECTIONS.items():
        if section_kind == kind:
            return section, True
    return kind, False


# --- Markdown, for the site ----------------------------------------------------------------


def _table(rows: list[ParameterDoc]) -> str:
    lines = ["| key | type | default | constraints | description |", "|---|---|---|---|---|"]
    for p in rows:
        cells = [f"`{p.name}`", f"`{p.type}`", f"`{p.default}`", p.constraints, p.description]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def _cell(text: str) -> str:
    """Text for a table cell: a bare ``|`` would end the cell (code spans are safe)."""
    pieces = re.split(r"(`[^`]*`|\$[^$]*\$)", text)
    for i, piece in enumerate(pieces):
        if piece.startswith("$"):
            pieces[i] = re.sub(r"(?<!\\)\|", r"\\vert ", piece)
        elif not piece.startswith("`"):
            pieces[i] = piece.replace("|", "\\|")
    return "".join(pieces)


def component_markdown(doc: ComponentDoc, common_anchor: str | None = None) -> str:
    """A component's section of its kind's page (``## name``).

    Args:
        doc: the component.
        common_anchor: a link to where the kind's common options are listed; without it they
            are listed here.
    """
    parts = [f"## {doc.name}", f"*{doc.kind}, provided by {doc.package}*", doc.summary]
    if doc.details:
        parts.append(doc.details)
    parts.append(f"```yaml\n{doc.example}\n```")
    if doc.parameters:
        parts.append(_table(doc.parameters))
    else:
        parts.append("No parameters of its own.")
    if doc.common and common_anchor:
        parts.append(f"It also takes [the options of every {doc.kind}]({common_anchor}).")
    elif doc.common:
        parts.append(f"**The options of every {doc.kind}**\n\n{_table(doc.common)}")
    return "\n\n".join(parts) + "\n"


def reference_pages(registry: Registry) -> list[ReferencePage]:
    """The component reference: an overview, then one page per kind, in :data:`KINDS` order."""
    pages = [_overview(registry)]
    for kind in KINDS:
        components = registry.components(kind)
        summary, rest = _docstring(KINDS[kind])
        parts = [f"# {kind.capitalize()} components", rst_to_markdown(summary)]
        if rest:
            parts.append(rst_to_markdown(rest))
        if not components:
            parts.append(f"No {kind} is registered.")
        common = _common_model(kind)
        if common is not None:
            parts.append(f"## The options of every {kind}\n\n{_table(parameters(common))}")
        anchor = f"#the-options-of-every-{kind}" if common is not None else None
        parts.extend(component_markdown(describe(c), anchor) for c in components)
        pages.append(ReferencePage(f"{kind}.md", kind, "\n\n".join(parts)))
    return pages


def _overview(registry: Registry) -> ReferencePage:
    packages = sorted({c.package for c in registry.components() if c.package})
    lines = [
        "# Component reference",
        "Every component a spec can name with `type:`, generated when this site was built from "
        f"the plugins installed there ({', '.join(packages) or 'none'}). A plugin you install "
        "appears in a site you build, and `genkit describe KIND NAME` prints the same in a "
        "terminal.",
        "| kind | name | package | summary |\n|---|---|---|---|",
    ]
    rows = [
        f"| {c.kind} | [{c.name}]({c.kind}.md#{c.name}) | {c.package or c.plugin} | "
        f"{_cell(rst_to_markdown(_docstring(c.cls)[0]))} |"
        for c in registry.components()
    ]
    lines[-1] += "\n" + "\n".join(rows)
    if registry.problems:
        problems = "\n".join(f"- {p}" for p in registry.problems)
        lines.append(f"Plugins that could not be loaded:\n\n{problems}")
    return ReferencePage("index.md", "Overview", "\n\n".join(lines) + "\n")


# --- text, for the terminal ----------------------------------------------------------------


def component_text(doc: ComponentDoc, width: int = 100) -> str:
    """What ``genkit describe KIND NAME`` prints: the same content as the site, as plain text."""
    lines = [f"{doc.kind} {doc.name}  ({doc.package})", ""]
    for paragraph in [doc.summary, *doc.details.split("\n\n")]:
        if paragraph.startswith(("```", "$$\n")):  # code and display formulas keep their lines
            lines += ["  " + line for line in _plain(paragraph).strip("`\n").splitlines()] + [""]
        elif paragraph:
            lines += [*textwrap.wrap(_plain(paragraph), width), ""]
    lines += ["example:", f"  {doc.example}", ""]
    for title, rows in (
        ("parameters:", doc.parameters),
        (f"the options of every {doc.kind}:", doc.common),
    ):
        if rows:
            lines += [title, *_text_rows(rows, width), ""]
    if not doc.parameters:
        lines += ["no parameters of its own", ""]
    return "\n".join(lines).rstrip() + "\n"


def _text_rows(rows: list[ParameterDoc], width: int) -> list[str]:
    indent = " " * (4 + max(len(p.name) for p in rows))
    out = []
    for p in rows:
        facts = [p.type, "required" if p.default == "required" else f"default {p.default}"]
        facts += [p.constraints] if p.constraints else []
        out.append(f"  {p.name.ljust(len(indent) - 4)}  {'; '.join(facts)}")
        if p.description:
            out += textwrap.wrap(
                p.description, width, initial_indent=indent, subsequent_indent=indent
            )
    return out


def _plain(markdown: str) -> str:
    """Markdown formulas without their ``$`` delimiters, for a terminal."""
    return re.sub(r"\$\$?([^$]*)\$\$?", r"\1", markdown)
