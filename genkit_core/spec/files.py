"""Reading spec files (YAML, JSON, TOML) with safe parsers, and ``--set`` overrides."""

from __future__ import annotations

import copy
import json
import re
import sys
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from ..errors import SpecError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "STDIN_NAME",
    "Override",
    "apply_overrides",
    "dump_spec",
    "is_stdin",
    "read_spec_file",
    "set_field",
]

_MAX_BYTES = 16 << 20
_FORMATS = {".yaml": "YAML", ".yml": "YAML", ".json": "JSON", ".toml": "TOML"}
STDIN_NAME = "<stdin>"
"""How messages name a spec read from standard input (``genkit validate -``)."""


class _SpecLoader(yaml.SafeLoader):
    """YAML with the booleans of YAML 1.2: only ``true`` and ``false`` (in any case).

    YAML 1.1 also reads ``on``, ``off``, ``yes``, ``no``, ``y`` and ``n`` as booleans, so
    ``compile: off`` would arrive as ``False`` and be refused by a field whose values are words.
    Here they stay words; a boolean field still accepts them (pydantic reads ``off`` as false).
    """


_BOOL = "tag:yaml.org,2002:bool"
_SpecLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_SpecLoader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class _AliasBombError(yaml.YAMLError):
    """A document whose aliases expand to far more values than its text holds."""

    def __init__(self, chars: int, limit: int):
        super().__init__(
            f"its aliases (*name) expand to more than {limit:,} values, from {chars:,} "
            "characters (an alias bomb?); write the repeated parts out, or nest fewer aliases"
        )


def _load_yaml(text: str) -> Any:
    """``text`` read by :class:`_SpecLoader`, a ``SafeLoader``: what ``yaml.safe_load`` does,
    except that a document whose aliases expand to far more values than it writes out
    (:func:`_check_expansion`) is refused before it is built.
    """
    loader = _SpecLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, len(text))
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _max_values(chars: int) -> int:
    """How many values (scalars, lists, mappings) a YAML text of ``chars`` may expand to.

    Written out, a value takes at least two characters (``1,``), so a text without aliases
    holds fewer than ``chars / 2``. Aliases that reuse a section a few times stay far below
    this bound; a 500-byte alias bomb expands to a billion values.
    """
    return 100_000 + 4 * chars


def _check_expansion(root: yaml.Node, chars: int) -> None:
    """Refuse a composed document, of ``chars`` characters, that expands to more values than
    :func:`_max_values` allows.

    The composer shares one node among all the aliases of an anchor, so counting each node's
    expanded size once (memoised by identity) takes time in the size of the text, not of its
    expansion. A node that contains itself (a recursive alias) counts once.

    Raises:
        _AliasBombError: the expansion is too large.
    """
    limit = _max_values(chars)
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        sizes[key] = 1  # while being counted: a recursive alias adds one
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(item) for item in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        sizes[key] = total
        if total > limit:
            raise _AliasBombError(chars, limit)
        return total

    size(root)


def is_stdin(path: str | Path) -> bool:
    """Whether ``path`` names standard input: ``-`` or ``/dev/stdin``."""
    return str(path) in ("-", "/dev/stdin")


def read_spec_file(path: str | Path) -> dict[str, Any]:
    """Parse a spec file into a mapping; the format follows the suffix (YAML when unknown).

    ``-`` reads standard input, as does any path that is a pipe (``/dev/stdin``, ``<(...)``);
    a spec without a suffix is YAML, which also reads JSON.

    Raises:
        SpecError: the file is missing, unreadable, not text, not parseable or not a mapping.
    """
    source = STDIN_NAME if str(path) == "-" else str(path)
    text = _read_text(Path(path), source)
    fmt = _FORMATS.get(Path(path).suffix.lower(), "YAML")
    data = _parse(text, fmt, source)
    if data is None:
        raise SpecError(
            "the spec is empty; it needs at least model, latent_dim, data, encoder, decoder "
            "(see examples/vae.yaml)",
            source=source,
        )
    if not isinstance(data, dict):
        raise SpecError(
            f"a spec must be a mapping of fields (model: vae, ...), not a {type(data).__name__}",
            source=source,
        )
    return data


def _read_text(path: Path, source: str) -> str:
    """The spec's text: a regular file, standard input or a pipe, at most ``_MAX_BYTES``."""
    if str(path) == "-":
        raw = sys.stdin.buffer.read(_MAX_BYTES + 1)
    elif path.is_dir() or not path.exists():
        hint = "it is a directory" if path.is_dir() else "no such file"
        raise SpecError(f"cannot read the spec: {hint}", source=source)
    else:
        try:
            with path.open("rb") as f:  # a pipe has no size to check first: read one byte more
                raw = f.read(_MAX_BYTES + 1)
        except OSError as exc:
            raise SpecError(f"cannot read the spec: {exc.strerror}", source=source) from None
    if len(raw) > _MAX_BYTES:
        raise SpecError(f"the spec is larger than {_MAX_BYTES >> 20} MiB", source=source)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError("not a text file (it is not UTF-8)", source=source) from None


def _parse(text: str, fmt: str, source: str) -> Any:
    if "\x00" in text:
        raise SpecError("not a text file (it holds NUL bytes)", source=source)
    try:
        if fmt == "JSON":
            return json.loads(text)
        if fmt == "TOML":
            return tomllib.loads(text)
        return _load_yaml(text)
    except _AliasBombError as exc:
        raise SpecError(f"not accepted as YAML: {exc}", source=source) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"not valid YAML{where}: {problem}", source=source) from None
    except json.JSONDecodeError as exc:
        message = f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        raise SpecError(message, source=source) from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"not valid TOML: {exc}", source=source) from None
    except RecursionError:
        raise SpecError(f"{fmt} nested too deeply", source=source) from None


class Override:
    """One ``--set key=value``: the dotted path, the parsed value and how the user wrote it.

    The value is read as YAML (with YAML 1.2's booleans, see :class:`_SpecLoader`): ``2`` is a
    number, ``[256, 128]`` a list, ``off`` a word; text YAML cannot read stays text and an empty
    value is null.
    """

    def __init__(self, text: str):
        key, sep, raw = text.partition("=")
        if not sep or not key.strip():
            raise SpecError(f"--set expects key=value (e.g. train.epochs=2), got {text!r}")
        self.text = f"--set {text}"
        self.path = key.strip().split(".")
        self.key = ".".join(self.path)
        try:
            self.value = _load_yaml(raw) if raw.strip() else None
        except yaml.YAMLError:
            self.value = raw

    @classmethod
    def of(cls, key: str, value: Any, text: str) -> Override:
        """An override of ``key`` by an already parsed ``value`` (``text`` names it in errors)."""
        item = cls.__new__(cls)
        item.text, item.path, item.key, item.value = text, key.split("."), key, value
        return item

    def covers(self, field: str) -> bool:
        """Whether a problem at ``field`` is about this override's value."""
        return any(
            a == b or a.startswith(b + ".") for a, b in ((field, self.key), (self.key, field))
        )


def apply_overrides(
    data: Mapping[str, Any],
    overrides: Iterable[str | Override],
    component_sections: Collection[str] = (),
) -> dict[str, Any]:
    """Return a copy of ``data`` with each ``dotted.key=value`` set.

    A number in the path indexes a list (``encoder.hidden.0=256``). A word given for a whole
    section of ``component_sections`` names its component: ``likelihood=gaussian`` means
    ``likelihood: {type: gaussian}`` (with that component's defaults).

    Raises:
        SpecError: an override is not of the form ``key=value``, walks into a value that is not
            a section, or indexes past the end of a list.
    """
    result: dict[str, Any] = copy.deepcopy(dict(data))
    for override in overrides:
        item = override if isinstance(override, Override) else Override(override)
        _apply(result, item, component_sections)
    return result


def set_field(data: dict[str, Any], key: str, value: Any, what: str | None = None) -> None:
    """Set the dotted ``key`` (``divergence.beta``, ``encoder.hidden.0``) of ``data`` in place,
    as ``--set`` does; ``value`` replaces whatever was there, a whole section included.

    Raises:
        SpecError: a part of the path is not a section or a list index (``what`` names the
            change in the message).
    """
    _apply(data, Override.of(key, copy.deepcopy(value), what or key), ())


def _apply(result: dict[str, Any], item: Override, component_sections: Collection[str]) -> None:
    """Set one override in ``result``, in place."""
    node: Any = result
    part: str | int  # a list's index becomes an int
    for depth, part in enumerate(item.path):
        last = depth == len(item.path) - 1
        where = ".".join(item.path[: depth + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise _bad_index(item, ".".join(item.path[:depth]), part, len(node))
            part = int(part)
        elif not isinstance(node, dict):
            raise SpecError(f"{item.text}: '{where.rpartition('.')[0]}' is not a section")
        if last:
            value = item.value
            if depth == 0 and part in component_sections and isinstance(value, str):
                value = {"type": value}
            node[part] = value
        elif isinstance(node, dict) and part not in node and item.path[depth + 1].isdigit():
            raise SpecError(
                f"{item.text}: '{where}' is not in the spec to index; set the whole list, "
                f"e.g. --set {where}=[256,128]"
            )
        else:
            node = node.setdefault(part, {}) if isinstance(node, dict) else node[part]


def _bad_index(item: Override, where: str, part: str, length: int) -> SpecError:
    if not part.isdigit():
        return SpecError(f"{item.text}: '{where}' is a list; index it by position, e.g. {where}.0")
    held = f"has {length} item{'s' * (length != 1)} (indices 0 to {length - 1})"
    held = held if length else "is empty"
    return SpecError(
        f"{item.text}: '{where}' {held}; set the whole list to change its length, "
        f"e.g. --set {where}=[256,128]"
    )


def dump_spec(data: Mapping[str, Any]) -> str:
    """YAML text of a resolved spec, keys in the spec's own order."""
    return yaml.safe_dump(dict(data), sort_keys=False, default_flow_style=None, allow_unicode=True)
