"""``load_sweep``: a sweep file read and checked as strictly as a spec.

Beyond the file's own schema, every swap is applied to the resolved base spec and validated
there (``grid.likelihood.1.type: unknown likelihood 'bernouli'; did you mean 'bernoulli'?``),
each searched key at both ends of its range, and every combination of the grid is validated
and its model built on the meta device, so a sweep that starts does not fail at its 17th trial
for a mistake in the file.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import GenkitError, SpecError
from ..registry import Registry, get_registry
from ..spec import SpecValidationError, load_spec, read_spec_file, resolve
from .file import DISTRIBUTIONS, SweepFile
from .naming import safe_name
from .plan import Axis, Parameter, Sweep

__all__ = ["MAX_TRIALS", "load_sweep"]

MAX_TRIALS = 10_000
"""The most trials one sweep may have (grid cells x search trials)."""

_REPORTED = 5
"""Of many trials failing for one reason, how many are named."""


def load_sweep(
    source: str | Path | Mapping[str, Any],
    registry: Registry | None = None,
    check_combinations: bool = True,
) -> Sweep:
    """Read and check a sweep file (YAML, JSON or TOML) or mapping.

    ``check_combinations`` false skips building every combination's model (a sweep's workers
    read the sweep ``genkit sweep`` has checked already).

    Raises:
        SpecError: the file cannot be read; or :class:`SpecValidationError` with every
            ``(field, message)`` found: in the file, its base spec, a swap or a combination.
    """
    registry = registry or get_registry()
    where = None if isinstance(source, Mapping) else str(source)
    data = dict(source) if isinstance(source, Mapping) else read_spec_file(source)
    try:
        file = SweepFile.model_validate(data)
    except ValidationError as exc:
        described = [_describe(e) for e in exc.errors(include_url=False)]
        raise SpecValidationError(described, source=where) from None
    folder = Path(where).parent if where else Path.cwd()
    default_name = safe_name(Path(where).stem) if where else "sweep"
    errors: list[tuple[str, str]] = []
    bases = _base(file.base, folder, registry, errors)
    if bases is None:
        raise SpecValidationError(errors, source=where)
    search = file.search
    sweep = Sweep(
        name=file.name or default_name,
        base=bases[0],
        defaults=bases[1],
        grid=tuple(Axis.of(k, v) for k, v in file.grid.items()),
        search=tuple(Parameter.of(k, d) for k, d in (search.params if search else {}).items()),
        trials=search.trials if search else 0,
        metric=search.metric if search else "test_loss",
        direction=search.direction if search else "minimize",
        seed=search.seed if search else 0,
        iw_samples=file.iw_samples,
        source=where,
    )
    errors += _swap_errors(sweep, registry)
    if not errors and check_combinations:
        errors += _combination_errors(sweep, registry)
    if errors:
        raise SpecValidationError(errors, source=where)
    return sweep


def _base(
    base: str | dict[str, Any], folder: Path, registry: Registry, errors: list[tuple[str, str]]
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The base spec as written and resolved, or None with the reasons added to ``errors``."""
    label = "base"
    try:
        if isinstance(base, str):
            path = folder / base
            if not path.is_file():
                errors.append(
                    ("base", f"no spec file {path} (a path is relative to the sweep file)")
                )
                return None
            label, base = f"base ({path})", read_spec_file(path)
        return base, resolve(load_spec(base, registry=registry))
    except SpecValidationError as exc:
        errors.extend((f"{label}.{f}" if f else label, m) for f, m in exc.errors)
    except SpecError as exc:
        errors.append((f"{label}.{exc.field}" if exc.field else label, exc.detail))
    return None


def _swap_errors(sweep: Sweep, registry: Registry) -> list[tuple[str, str]]:
    """Each grid value and each end of each searched range, applied alone to the base."""
    errors: list[tuple[str, str]] = []
    for axis in sweep.grid:
        errors += _repeats(axis)
        for i, value in enumerate(axis.values):
            errors += _one_swap(sweep, axis.key, value, f"grid.{axis.key}.{i}", registry)
    for p in sweep.search:
        if p.axis is not None:
            errors += [(f"search.{f.removeprefix('grid.')}", m) for f, m in _repeats(p.axis)]
        for i, value in enumerate(p.extremes()):
            where = f"search.{p.key}" + (f".choice.{i}" if p.axis is not None else "")
            errors += _one_swap(sweep, p.key, value, where, registry)
    return list(dict.fromkeys(errors))  # a key's mistake is found once per value: say it once


def _repeats(axis: Axis) -> list[tuple[str, str]]:
    seen: dict[str, int] = {}
    errors = []
    for i, value in enumerate(axis.values):
        text = json.dumps(value, sort_keys=True)
        if text in seen:
            where = f"grid.{axis.key}.{i}"
            errors.append((where, f"repeats value {seen[text]}; each value is tried once"))
        seen.setdefault(text, i)
    return errors


def _one_swap(
    sweep: Sweep, key: str, value: Any, where: str, registry: Registry
) -> list[tuple[str, str]]:
    data = copy.deepcopy(sweep.base)
    try:
        sweep.swap(data, key, value)
        load_spec(data, registry=registry)
    except SpecValidationError as exc:
        return [_relative(f, m, key, where) for f, m in exc.errors]
    except SpecError as exc:
        return [(where, exc.detail if not exc.field else f"{exc.field}: {exc.detail}")]
    return []


def _relative(field: str, message: str, key: str, where: str) -> tuple[str, str]:
    """A spec error of a swapped spec, named from the sweep file's point of view: a mistake in
    the key itself (``train.sed``) at the key, one in a value at that value.
    """
    if (key + ".").startswith(field + ".") and message.startswith("unknown field"):
        return where.rsplit(".", 1)[0] if where.startswith("grid.") else where, message
    if field == key or field.startswith(key + "."):
        return where + field[len(key) :], message
    return where, f"makes {field or 'the spec'} invalid: {message}"


def _combination_errors(sweep: Sweep, registry: Registry) -> list[tuple[str, str]]:
    """Every grid cell (with each searched key at its low end) as a spec and a model."""
    from ..build import build_model

    cells = sweep.cells()
    total = len(cells) * max(1, sweep.trials)
    if total > MAX_TRIALS:
        return [("grid", f"makes {total:,} trials; at most {MAX_TRIALS:,} in one sweep")]
    low = {p.key: p.axis.choices[0] if p.axis else p.extremes()[0] for p in sweep.search}
    problems: dict[tuple[str, str], list[str]] = {}
    for cell in cells:
        params = {**cell, **low}
        name = sweep.trial_name(params)
        try:
            spec = load_spec(sweep.spec(params), registry=registry)
            build_model(spec, registry=registry, device="meta")
        except SpecValidationError as exc:
            for f, m in exc.errors:
                problems.setdefault(("grid", f"{f}: {m}" if f else m), []).append(name)
            continue
        except GenkitError as exc:
            problems.setdefault(("grid", str(exc)), []).append(name)
            continue
        for problem in _metric_problems(sweep, spec.model):
            problems.setdefault(problem, []).append(name)
    return [(field, f"{text} (trial {_some(names)})") for (field, text), names in problems.items()]


def _metric_problems(sweep: Sweep, model: str) -> list[tuple[str, str]]:
    if sweep.metric in ("iw_nll", "negative_elbo") and model == "ae":
        return [("search.metric", f"{sweep.metric} needs a vae or cvae; use test_loss for an ae")]
    if sweep.metric == "iw_nll" and sweep.iw_samples == 0:
        return [("search.metric", "iw_nll needs iw_samples above 0")]
    return []


def _some(names: list[str]) -> str:
    more = f" and {len(names) - _REPORTED} more" if len(names) > _REPORTED else ""
    return ", ".join(names[:_REPORTED]) + more


def _describe(error: Any) -> tuple[str, str]:
    """One pydantic error of the sweep file as ``(field path, message)``."""
    loc = [str(p) for p in error["loc"]]
    if loc[:1] == ["search"] and len(loc) > 2 and loc[2] in DISTRIBUTIONS:
        del loc[2]  # the distribution's tag: search.train.lr.log_uniform.log_uniform.0
    field = ".".join(loc)
    kind = error["type"]
    if kind == "sweep_field":
        return ".".join([*loc, error["ctx"]["field"]]), error["ctx"]["message"]
    if kind == "extra_forbidden":
        allowed = ", ".join(SweepFile.model_fields) if len(loc) == 1 else ""
        return field, f"unknown field '{loc[-1]}'" + (f"; allowed: {allowed}" if allowed else "")
    if kind == "missing":
        return field, "required, but missing"
    message = error["msg"].removeprefix("Value error, ")
    if kind in ("value_error", "distribution"):
        return field, message
    return field, f"{message} (got {error.get('input')!r:.60})"
