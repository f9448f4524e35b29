"""Readable names: of a swapped value (``bernoulli``, ``4``, ``64x64``) and of a trial
(``likelihood=bernoulli,divergence.beta=4,seed=0``), safe as a directory name.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

__all__ = ["key_label", "safe_name", "trial_name", "value_label", "value_labels"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._,=+-]")
_MAX = 200


def key_label(key: str) -> str:
    """A swapped key as a trial name shows it: ``train.`` is dropped (``seed``, ``lr``)."""
    return key.removeprefix("train.")


def value_label(value: Any) -> str:
    """A value as a trial name shows it: a section by its ``type``, a list joined by ``x``,
    a float in its shortest form.
    """
    if isinstance(value, dict):
        return str(value.get("type", "+".join(f"{k}={value_label(v)}" for k, v in value.items())))
    if isinstance(value, list | tuple):
        return "x".join(value_label(v) for v in value)
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def value_labels(values: Sequence[Any]) -> list[str]:
    """Distinct labels for the values of one grid key: a section is named by its ``type`` and,
    where two share a type, by its other fields too (``gaussian+variance=per_pixel``); what is
    still ambiguous after that gets its position (``-1``).
    """
    labels = [value_label(v) for v in values]
    for i, value in enumerate(values):
        if isinstance(value, dict) and labels.count(labels[i]) > 1:
            rest = "+".join(f"{k}={value_label(v)}" for k, v in value.items() if k != "type")
            labels[i] = "+".join(p for p in (str(value.get("type", "")), rest) if p)
    labels = [safe_name(label) for label in labels]
    return [f"{lab}-{i}" if labels.count(lab) > 1 else lab for i, lab in enumerate(labels)]


def trial_name(parts: Sequence[tuple[str, str]]) -> str:
    """``key=label`` pairs joined by commas, made safe for a file system."""
    return safe_name(",".join(f"{key_label(k)}={v}" for k, v in parts))


def safe_name(text: str) -> str:
    """``text`` with characters other than letters, digits and ``._,=+-`` replaced by ``_``,
    at most 200 characters (a longer one keeps its start and a hash of the whole).
    """
    name = _UNSAFE.sub("_", text).lstrip(".") or "_"
    if len(name) > _MAX:
        digest = hashlib.sha1(name.encode()).hexdigest()[:10]
        name = f"{name[: _MAX - 11]}-{digest}"
    return name
