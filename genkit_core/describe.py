"""The component reference: every registered component, its docstring and its parameters.

One renderer serves both readers: ``genkit describe KIND NAME`` prints :func:`component_text`,
and the documentation site's hook (``docs/hooks/component_reference.py``) writes the pages of
:func:`reference_pages` at build time, so a plugin installed on the machine that builds the site
appears in it. Everything comes from the registry: kinds from
:data:`~genkit_core.interfaces.KINDS`, summaries and formulas from class docstrings
(:mod:`~genkit_core.docstrings`), and each parameter's type, default, constraints and
description from the pydantic ``Params`` model (:mod:`~genkit_core.fields`).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from .docstrings import rst_to_markdown, split_docstring
from .fields import ParameterDoc, parameters, type_name, yaml_value
from .interfaces import KINDS
from .registry import Component, Registry

__all__ = [
    "ComponentDoc",
    "ReferencePage",
    "component_markdown",
    "component_text",
    "describe",
    "reference_pages",
]


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


# --- components ----------------------------------------------------------------------------


def describe(component: Component) -> ComponentDoc:
    """Everything the reference says about a registered component."""
    common_model = _common_model(component.kind)
    common = set(common_model.model_fields) if common_model is not None else set()
    params_model: type[BaseModel] = component.cls.Params  # type: ignore[attr-defined]
    summary, rest = split_docstring(component.cls)
    return ComponentDoc(
        kind=component.kind,
        name=component.name,
        package=component.package or f"plugin module {component.plugin}",
        summary=rst_to_markdown(summary),
        details=rst_to_markdown(rest),
        parameters=parameters(params_model, skip=frozenset(common)),
        common=[p for p in parameters(params_model) if p.name.split(".")[0] in common],
        example=_example(component, params_model, common_model),
    )


def _common_model(kind: str) -> type[BaseModel] | None:
    """The parameter model every component of a kind extends (``DataParams``), if it has fields."""
    model = getattr(KINDS[kind], "Params", None)
    if isinstance(model, type) and issubclass(model, BaseModel) and model.model_fields:
        return model
    return None


def _example(component: Component, params: type[BaseModel], common: type[BaseModel] | None) -> str:
    """``encoder: {type: mlp, hidden: [512], activation: relu}``: its own keys, defaults filled.

    A required key shows the first of its ``examples``, or ``<type>`` when it has none; an option
    of every component of the kind shows only where this one's default differs (``beta: 6.0``).
    """
    values: dict[str, Any] = {"type": component.name}
    shared = common.model_fields if common is not None else {}
    for name, info in params.model_fields.items():
        if info.is_required():
            values[name] = info.examples[0] if info.examples else f"<{type_name(info.annotation)}>"
            continue
        default = info.get_default(call_default_factory=True)
        if name in shared and default == shared[name].get_default(call_default_factory=True):
            continue
        if default is not None:
            values[name] = default
    section, listed = _section(component.kind)
    body = yaml_value(values)
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
        lines.append("| " + " | ".join(_cell(_literal(c)) for c in cells) + " |")
    return "\n".join(lines)


_SPANS = re.compile(r"(`[^`]*`|\$[^$]*\$)")  # code and formulas, which Markdown leaves alone


def _literal(text: str) -> str:
    """Plain text (a field's description) as Markdown that shows it as written.

    ``(C*H*W,)`` would otherwise lose its asterisks to emphasis, ``<type>`` vanish as a tag.
    """
    pieces = _SPANS.split(text)
    for i in range(0, len(pieces), 2):
        pieces[i] = re.sub(r"([\\*_<])", r"\\\1", pieces[i])
    return "".join(pieces)


def _cell(text: str) -> str:
    """Text for a table cell: a bare ``|`` would end the cell (code spans are safe)."""
    pieces = _SPANS.split(text)
    for i, piece in enumerate(pieces):
        if piece.startswith("$"):
            pieces[i] = re.sub(r"(?<!\\)\|", r"\\vert ", piece)
        elif not piece.startswith("`"):
            pieces[i] = piece.replace("|", "\\|")
    return "".join(pieces)


def component_markdown(
    doc: ComponentDoc, common_anchor: str | None = None, listed: Sequence[ParameterDoc] = ()
) -> str:
    """A component's section of its kind's page (``## name``).

    Args:
        doc: the component.
        common_anchor: a link to where the kind's common options are listed; without it they
            are listed here.
        listed: the rows listed at ``common_anchor``. A common option of this component that
            differs from its row there (``beta_tc``'s ``beta`` defaults to 6.0, not 1.0) is
            listed here, with the component's own default and description.
    """
    parts = [f"## {doc.name}", f"*{doc.kind}, provided by {doc.package}*", doc.summary]
    if doc.details:
        parts.append(doc.details)
    parts.append(f"```yaml\n{doc.example}\n```")
    own = [*doc.parameters, *(p for p in doc.common if common_anchor and p not in listed)]
    if own:
        parts.append(_table(own))
    else:
        parts.append("No parameters of its own.")
    if doc.common and common_anchor:
        which = "the other options" if len(own) > len(doc.parameters) else "the options"
        parts.append(f"It also takes [{which} of every {doc.kind}]({common_anchor}).")
    elif doc.common:
        parts.append(f"**The options of every {doc.kind}**\n\n{_table(doc.common)}")
    return "\n\n".join(parts) + "\n"


def reference_pages(registry: Registry) -> list[ReferencePage]:
    """The component reference: an overview, then one page per kind, in :data:`KINDS` order."""
    pages = [_overview(registry)]
    for kind in KINDS:
        components = registry.components(kind)
        summary, rest = split_docstring(KINDS[kind])
        parts = [f"# {kind.capitalize()} components", rst_to_markdown(summary)]
        if rest:
            parts.append(rst_to_markdown(rest))
        if not components:
            parts.append(f"No {kind} is registered.")
        common = _common_model(kind)
        listed = parameters(common) if common is not None else []
        if common is not None:
            parts.append(f"## The options of every {kind}\n\n{_table(listed)}")
        anchor = f"#the-options-of-every-{kind}" if common is not None else None
        parts.extend(component_markdown(describe(c), anchor, listed) for c in components)
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
        f"{_cell(rst_to_markdown(split_docstring(c.cls)[0]))} |"
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
