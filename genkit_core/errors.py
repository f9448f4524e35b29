"""genkit's own exception types: every user mistake raises one of these.

The CLI prints a :class:`GenkitError` as one line and exits non-zero; anything else
is a bug in genkit or a plugin and keeps its traceback.
"""

from __future__ import annotations

import re
import reprlib
from typing import Any

__all__ = [
    "DataError",
    "DuplicateComponentError",
    "GenkitError",
    "GenkitWarning",
    "InstallError",
    "NonFiniteError",
    "PluginError",
    "RunError",
    "SpecError",
    "UnknownComponentError",
    "one_line",
    "shown",
    "with_article",
]


class GenkitError(Exception):
    r"""Base of all errors caused by the user's input: specs, data, files, plugins.

    Its text is always one line: control characters from the input (a newline in a
    component's name, say) are shown escaped, as ``\n``.
    """

    def __str__(self) -> str:
        return one_line(super().__str__())


def one_line(text: str) -> str:
    r"""``text`` with control characters escaped (``\n``, ``\x00``): it prints as one line."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def shown(value: Any, limit: int = 200) -> str:
    """``repr(value)`` for a message, at most ``limit`` characters (cut with ``...``).

    A user's value may be huge (a list of a million numbers, a YAML alias expanded), so it is
    never ``repr``-ed whole: :mod:`reprlib` stops after a few items and levels.
    """
    text = _REPR.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother = 4, 200, 200
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = _REPR.maxset = 12


def with_article(word: str) -> str:
    """``word`` after its indefinite article, for messages: ``an ae``, ``a vae``, ``an encoder``."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


class SpecError(GenkitError):
    """A spec is malformed or inconsistent.

    Args:
        message: what is wrong and how to fix it.
        field: dotted path of the offending field (``encoder.hidden.0``), when there is one.
        source: the spec file, when the spec came from one.
    """

    def __init__(self, message: str, *, field: str | None = None, source: str | None = None):
        self.field = field
        self.source = source
        self.detail = message
        prefix = f"{source}: " if source else ""
        where = f"{field}: " if field else ""
        super().__init__(f"{prefix}{where}{message}")


class UnknownComponentError(SpecError):
    """A spec names a component that no loaded plugin provides."""


class PluginError(GenkitError):
    """A plugin failed to load or registered something invalid."""


class DuplicateComponentError(PluginError):
    """Two plugins registered the same kind and name."""


class DataError(GenkitError):
    """Training or test data is missing, malformed or does not fit the spec."""


class RunError(GenkitError):
    """A run directory or a file in it is missing, corrupt or would be overwritten."""


class InstallError(GenkitError):
    """The installed packages do not work together (a torchvision built for another torch)."""


class NonFiniteError(GenkitError):
    """Training produced a non-finite loss or gradient and the spec says to stop."""


class GenkitWarning(RuntimeWarning):
    """Something the user should know that does not stop the command (a tracker that went
    away, an optimisation that fell back). The CLI prints it as one line,
    ``genkit: warning: ...``, without Python's file and source line.
    """
