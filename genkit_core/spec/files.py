"""Reading spec files (YAML, JSON, TOML) with safe parsers, and ``--set`` overrides."""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from ..errors import SpecError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["apply_overrides", "dump_spec", "read_spec_file", "set_field"]

_MAX_BYTES = 16 << 20
_FORMATS = {".yaml": "YAML", ".yml": "YAML", ".json": "JSON", ".toml": "TOML"}


def read_spec_file(path: str | Path) -> dict[str, Any]:
    """Parse a spec file into a mapping; the format follows the suffix (YAML when unknown).

    Raises:
        SpecError: the file is missing, unreadable, not text, not parseable or not a mapping.
    """
    path = Path(path)
    source = str(path)
    if not path.is_file():
        hint = "it is a directory" if path.is_dir() else "no such file"
        raise SpecError(f"cannot read the spec: {hint}", source=source)
    if path.stat().st_size > _MAX_BYTES:
        raise SpecError(f"the spec is larger than {_MAX_BYTES >> 20} MiB", source=source)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SpecError("not a text file (it is not UTF-8)", source=source) from None
    except OSError as exc:
        raise SpecError(f"cannot read the spec: {exc.strerror}", source=source) from None
    fmt = _FORMATS.get(path.suffix.lower(), "YAML")
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


def _parse(text: str, fmt: str, source: str) -> Any:
    if "\x00" in text:
        raise SpecError("not a text file (it holds NUL bytes)", source=source)
    try:
        if fmt == "JSON":
            return json.loads(text)
        if fmt == "TOML":
            return tomllib.loads(text)
        return yaml.safe_load(text)
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


def apply_overrides(data: Mapping[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with each ``dotted.key=value`` set (values parsed as YAML).

    Raises:
        SpecError: an override is not of the form ``key=value`` or walks into a non-mapping.
    """
    result: dict[str, Any] = copy.deepcopy(dict(data))
    for override in overrides:
        key, sep, raw = override.partition("=")
        if not sep or not key.strip():
            raise SpecError(f"--set expects key=value (e.g. train.epochs=2), got {override!r}")
        try:
            value = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            value = raw
        set_field(result, key.strip(), value, what=f"--set {key}")
    return result


def set_field(data: dict[str, Any], key: str, value: Any, what: str | None = None) -> None:
    """Set the dotted ``key`` (``divergence.beta``) of ``data`` in place, making sections on the
    way; ``value`` replaces whatever was there, a whole section included.

    Raises:
        SpecError: a part of the path is not a section (``what`` names the change in the message).
    """
    node = data
    parts = key.split(".")
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            where = ".".join(parts[: i + 1])
            raise SpecError(f"{what or key}: '{where}' is not a section", field=where)
        node = child
    node[parts[-1]] = copy.deepcopy(value)


def dump_spec(data: Mapping[str, Any]) -> str:
    """YAML text of a resolved spec, keys in the spec's own order."""
    return yaml.safe_dump(dict(data), sort_keys=False, default_flow_style=None, allow_unicode=True)
