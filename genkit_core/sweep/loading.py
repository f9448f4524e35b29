"""``load_sweep``: a sweep file read and checked as strictly as a spec.

Beyond the file's own schema, every swap is applied to the resolved base spec and validated
there (``grid.likelihood.1.type: unknown likelihood 'bernouli'; did you mean 'bernoulli'?``),
each searched key at both ends of its range, and every combination of the grid is validated
and its model built on the meta device, so a sweep that starts does not fail at its 17th trial
for a mistake in the file.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from ..errors import GenkitError, SpecError
from ..registry import Registry, get_registry
from ..spec import ModelSpec, SpecValidationError, load_spec, read_spec_file, resolve
from .file import DISTRIBUTIONS, METRICS, SearchSection, SweepFile
from .naming import safe_name
from .plan import Axis, Parameter, Sweep

if TYPE_CHECKING:
    from ..model import LatentVariableModel

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
    _check_size(file, where)  # before anything is built for each value or combination
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
        direction=_direction(search, registry),
        seed=search.seed if search else 0,
        pruner=search.pruner.model_dump() if search and search.pruner.type != "none" else None,
        iw_samples=file.iw_samples,
        source=where,
    )
    errors += _score_errors(sweep.metric, registry)
    errors += _swap_errors(sweep, registry) + _pruner_errors(sweep)
    errors = errors or _name_clashes(sweep)  # repeated values, said already, repeat names
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


def _check_size(file: SweepFile, where: str | None) -> None:
    """Refuse a sweep of more than :data:`MAX_TRIALS` trials, counted from the lengths of its
    grid's lists: 4 keys of 100 values are 10^8 combinations, too many to build.
    """
    lengths = [len(values) for values in file.grid.values()]
    trials = file.search.trials if file.search else 1
    total = math.prod(lengths) * trials
    if total > MAX_TRIALS:
        shape = " x ".join(f"{n:,}" for n in lengths) + " grid values" * bool(lengths)
        shape += f" x {trials:,} search trials" * bool(file.search)
        field = "grid" if file.grid else "search.trials"
        message = f"makes {total:,} trials ({shape.removeprefix(' x ')}); at most {MAX_TRIALS:,}"
        raise SpecValidationError([(field, message + " in one sweep")], source=where)


def _swap_errors(sweep: Sweep, registry: Registry) -> list[tuple[str, str]]:
    """Each grid value and each end of each searched range, applied alone to the base; two
    values of one key that make the same spec (``1``, ``1.0`` and ``true`` for a float).
    """
    errors: list[tuple[str, str]] = []
    for axis in sweep.grid:
        errors += _axis_errors(sweep, axis, f"grid.{axis.key}", registry)
    for p in sweep.search:
        if p.axis is not None:
            errors += _axis_errors(sweep, p.axis, f"search.{p.key}.choice", registry)
        else:
            for value in p.extremes():
                errors += _one_swap(sweep, p.key, value, f"search.{p.key}", registry)[0]
    return list(dict.fromkeys(errors))  # a key's mistake is found once per value: say it once


def _axis_errors(sweep: Sweep, axis: Axis, where: str, registry: Registry) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    for i, value in enumerate(axis.values):
        found, spec = _one_swap(sweep, axis.key, value, f"{where}.{i}", registry)
        errors += found
        if spec is None:
            continue
        same = seen.setdefault(json.dumps(resolve(spec), sort_keys=True), i)
        if same != i:
            first = _shown(axis.values[same])
            errors.append((
                f"{where}.{i}",
                f"{_shown(value)} makes the same spec as value {same} ({first}) once validated; "
                "each value is tried once (for more runs of one configuration, sweep train.seed)",
            ))  # fmt: skip
    return errors


def _shown(value: Any) -> str:
    return json.dumps(value)[:60]


def _one_swap(
    sweep: Sweep, key: str, value: Any, where: str, registry: Registry
) -> tuple[list[tuple[str, str]], ModelSpec | None]:
    """The errors of ``value`` swapped into the base, and the spec it makes when it is valid."""
    data = copy.deepcopy(sweep.base)
    try:
        sweep.swap(data, key, value)
        return [], load_spec(data, registry=registry)
    except SpecValidationError as exc:
        return [_relative(f, m, key, where) for f, m in exc.errors], None
    except SpecError as exc:
        return [(where, exc.detail if not exc.field else f"{exc.field}: {exc.detail}")], None


def _name_clashes(sweep: Sweep) -> list[tuple[str, str]]:
    """Two grid cells whose names are one: they would share one run directory (a value holding
    ``,key=value`` can spell another cell's name).
    """
    named: dict[str, dict[str, Any]] = {}
    for cell in sweep.cells():
        first = named.setdefault(sweep.trial_name(cell), cell)
        if first is not cell:
            keys = [k for k in cell if cell[k] != first[k]]
            return [(
                "grid",
                f"two trials would share the name (and run directory) {sweep.trial_name(cell)}: "
                f"{_cell(first, keys)} and {_cell(cell, keys)}; change the values of "
                f"{', '.join(keys)} so that no value holds ',' or '=' or repeats another's label",
            )]  # fmt: skip
    return []


def _cell(cell: dict[str, Any], keys: list[str]) -> str:
    return ", ".join(f"{k}={_shown(cell[k])}" for k in keys)


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
    low = {p.key: p.axis.choices[0] if p.axis else p.extremes()[0] for p in sweep.search}
    problems: dict[tuple[str, str], list[str]] = {}
    for cell in cells:
        params = {**cell, **low}
        name = sweep.trial_name(params)
        try:
            spec = load_spec(sweep.spec(params), registry=registry)
            model = build_model(spec, registry=registry, device="meta")
        except SpecValidationError as exc:
            for f, m in exc.errors:
                problems.setdefault(("grid", f"{f}: {m}" if f else m), []).append(name)
            continue
        except GenkitError as exc:
            problems.setdefault(("grid", str(exc)), []).append(name)
            continue
        for problem in _metric_problems(sweep, spec, registry, model):
            problems.setdefault(problem, []).append(name)
    return [(field, f"{text} (trial {_some(names)})") for (field, text), names in problems.items()]


def _pruner_errors(sweep: Sweep) -> list[tuple[str, str]]:
    """A pruner judges a trial by its test losses before its last epoch: a base that measures
    none (``train.eval_every`` not below ``train.epochs``) would prune nothing, silently; and
    a search that maximises (a metric's score better higher) would prune the best trials.
    """
    if sweep.pruner is not None and sweep.direction == "maximize":
        why = f"the {sweep.pruner['type']} pruner compares test losses, lower is better"
        return [("search.pruner", f"{why}, and {sweep.metric} is maximised; set pruner: none")]
    swept = {a.key for a in sweep.grid} | {p.key for p in sweep.search}
    if sweep.pruner is None or swept & {"train", "train.epochs", "train.eval_every"}:
        return []
    epochs, every = sweep.defaults["train"]["epochs"], sweep.defaults["train"]["eval_every"]
    if every < epochs:
        return []
    return [
        (
            "search.pruner",
            f"{sweep.pruner['type']} has no test loss to judge a trial by before its last "
            f"epoch (train.eval_every {every}, train.epochs {epochs}); set train.eval_every "
            "below train.epochs in the base, or pruner: none",
        )
    ]


def _direction(search: SearchSection | None, registry: Registry) -> Literal["minimize", "maximize"]:
    """The search's direction: as written, else the metric's own (a score that is better
    higher is maximised), else ``minimize``.
    """
    if search is None:
        return "minimize"
    if search.direction is not None:
        return search.direction
    name = search.metric.split(".")[0]
    if search.metric not in METRICS and name in registry.names("metric"):
        cls = registry.get("metric", name).cls
        return "maximize" if cls.higher_is_better else "minimize"  # type: ignore[attr-defined]
    return "minimize"


def _score_errors(metric: str, registry: Registry) -> list[tuple[str, str]]:
    """A ``<metric>.<score>`` whose metric is not registered, or that it does not return."""
    if metric in METRICS:
        return []
    name, score = metric.split(".", 1)
    if name not in registry.names("metric"):
        return [("search.metric", registry.unknown_message("metric", name))]
    scores = registry.get("metric", name).cls.scores  # type: ignore[attr-defined]
    if scores and score not in scores:
        close = difflib.get_close_matches(score, scores, n=1)
        hint = f"did you mean '{name}.{close[0]}'? " if close else ""
        known = ", ".join(f"{name}.{s}" for s in scores)
        return [("search.metric", f"{name} has no score '{score}'; {hint}its scores: {known}")]
    return []


def _metric_problems(
    sweep: Sweep, spec: ModelSpec, registry: Registry, model: LatentVariableModel
) -> list[tuple[str, str]]:
    """What the model cannot measure: a score that needs factors its data lacks, or a bound on
    -log p(x) of a model that is not variational (asked of the model, not its kind: an ``ae``
    with a prior fitted after training has no ELBO either).
    """
    if sweep.metric not in METRICS:
        return _factor_problems(sweep.metric.split(".")[0], spec, registry)
    if sweep.metric in ("iw_nll", "negative_elbo") and not model.is_variational:
        return [(
            "search.metric",
            f"{sweep.metric} needs a model with an ELBO (a stochastic posterior and a prior "
            f"trained with it, as a vae's); use test_loss for this {model.kind}",
        )]  # fmt: skip
    if sweep.metric == "iw_nll" and sweep.iw_samples == 0:
        return [("search.metric", "iw_nll needs iw_samples above 0")]
    return []


def _factor_problems(metric: str, spec: ModelSpec, registry: Registry) -> list[tuple[str, str]]:
    """A metric that reads the data's true factors, on data that has none (said before any
    trial trains, not after the first).
    """
    from ..components import build_component
    from ..interfaces.metric import provides_factors

    if not registry.get("metric", metric).cls.needs_factors:  # type: ignore[attr-defined]
        return []
    if not provides_factors(build_component("data", spec.data, registry)):
        data = spec.data.type
        why = f"{metric} needs the data's true factors, and data '{data}' has none"
        return [("search.metric", f"{why}; sweep data with factors, e.g. dsprites")]
    return []


def _some(names: list[str]) -> str:
    more = f" and {len(names) - _REPORTED} more" if len(names) > _REPORTED else ""
    return ", ".join(names[:_REPORTED]) + more


def _describe(error: Any) -> tuple[str, str]:
    """One pydantic error of the sweep file as ``(field path, message)``."""
    loc = [str(p) for p in error["loc"]]
    if loc[:1] == ["search"] and len(loc) > 2 and loc[2] in DISTRIBUTIONS:
        del loc[2]  # the distribution's tag: search.train.lr.log_uniform.log_uniform.0
    if loc[:2] == ["search", "pruner"] and len(loc) > 3:
        del loc[2]  # the pruner's tag: search.pruner.median.n_startup_trials
    field = ".".join(loc)
    error_type = error["type"]
    if error_type == "sweep_field":
        return ".".join([*loc, error["ctx"]["field"]]), error["ctx"]["message"]
    if error_type == "extra_forbidden":
        allowed = ", ".join(SweepFile.model_fields) if len(loc) == 1 else ""
        return field, f"unknown field '{loc[-1]}'" + (f"; allowed: {allowed}" if allowed else "")
    if error_type == "missing":
        return field, "required, but missing"
    message = error["msg"].removeprefix("Value error, ")
    if error_type in ("value_error", "distribution", "pruner"):
        return field, message
    return field, f"{message} (got {error.get('input')!r:.60})"
