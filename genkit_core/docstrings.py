"""genkit's docstrings, reST as written for a terminal and for Sphinx-style readers, as Markdown.

The component reference (:mod:`genkit_core.describe`) and the documentation site's API pages
(the griffe extension ``docs/hooks/rst_roles.py``) render them through :func:`rst_to_markdown`;
``genkit plugins`` prints :func:`one_line_summary`.
"""

from __future__ import annotations

import inspect
import re
import textwrap

__all__ = ["one_line_summary", "rst_to_markdown", "split_docstring"]

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


def split_docstring(cls: type) -> tuple[str, str]:
    """A class docstring's first paragraph and the rest up to its Google sections (``Args:``)."""
    doc = _SECTION.split(inspect.getdoc(cls) or "", maxsplit=1)[0]
    first, _, rest = doc.partition("\n\n")
    return " ".join(first.split()), rest.strip()


# A word: roles and literals whole (their spaces included), then anything up to a space.
_WORD = re.compile(r"(?::\w+:`[^`]*`|``.+?``|\S)+", re.S)
_ABBREVIATIONS = frozenset({"al.", "e.g.", "i.e.", "cf.", "etc.", "vs.", "eq.", "fig."})


def one_line_summary(cls: type, width: int | None = None) -> str:
    """The first sentence of a class docstring as plain text, for a terminal.

    Formulas keep their TeX without delimiters and literals lose their backticks, as
    ``genkit describe`` prints them; a sentence that introduces a display formula ends in
    ``.`` instead of ``:``. Longer than ``width``, it is cut between words with `` …``, never
    inside a formula or literal.
    """
    first = split_docstring(cls)[0]
    if first.startswith(".. math::"):  # a docstring that opens with a display formula
        first = f":math:`{first.removeprefix('.. math::').strip()}`"
    words = _WORD.findall(first)
    for end, word in enumerate(words[:-1]):
        tail = _ROLE.sub("", _LITERAL.sub("", word))
        starts_sentence = words[end + 1][0].isupper() or words[end + 1][0] in ":`"
        if tail.endswith(".") and word.lower() not in _ABBREVIATIONS and starts_sentence:
            words = words[: end + 1]
            break
    plain = [re.sub(r"\$+|`", "", rst_to_markdown(word)) for word in words]
    if plain and plain[-1].endswith(":"):
        plain[-1] = plain[-1][:-1] + "."
    kept: list[str] = []
    for word in plain:
        if width is not None and kept and len(" ".join([*kept, word])) > width - 2:
            return " ".join(kept) + " …"
        kept.append(word)
    return " ".join(kept)
