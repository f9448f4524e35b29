"""A run's final test metrics and its metric components' scores, computed once and cached in its
``eval.json``.

The metrics are :func:`~genkit_core.evaluation.evaluate_test_split`'s (what ``genkit eval``
prints: the negative ELBO and its terms, the importance-weighted -log p(x), active units, per
test example in nats) plus ``test_loss``, the last test loss in the run's record (the objective
the run trained on, left out when training measured it on another test draw). The cache
records which weights it measured (their step), K and the test draw (``test_draw``: which
binarisation of the test images, see :func:`~genkit_core.data.measured_draw`); a run trained
further, a request for another K, or a cache of another draw is measured again.

The scores of ``metric`` components (:func:`evaluate_metrics`, ``genkit eval --metric``) sit in
the same file under ``metrics``, one entry per metric name with the parameters and weights they
were computed with; an entry is reused while both match::

    "metrics": {"mig": {"params": {"type": "mig", "seed": 0, ...},
                        "scores": {"discrete_mig": 0.21}, "weights": {"step": 940, "epoch": 10}}}
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from .errors import DataError, GenkitError, PluginError, RunError, SpecError
from .files import atomic_write, read_metadata, read_small_file
from .metadata import CheckpointMetadata, WeightsMetadata, checked
from .run import CHECKPOINT, EVAL, SPEC, WEIGHTS

if TYPE_CHECKING:
    from .interfaces import Metric
    from .model import LatentVariableModel
    from .registry import Registry
    from .spec import ModelSpec

__all__ = [
    "INFO_KEYS",
    "evaluate_metrics",
    "measure_run",
    "metric_key",
    "metric_spec",
    "prior_scores",
    "read_cached",
    "score_columns",
    "trained_position",
    "training_test_loss",
]

INFO_KEYS = frozenset(
    {"run", "model", "data", "examples", "unit", "iw_samples", "latent_dim", "latent_units",
     "normalized", "test_draw", "weights"}
)  # fmt: skip
"""Keys of a metrics report that describe it rather than measure the model."""


def trained_position(run_dir: str | Path) -> dict[str, int]:
    """``{"step": ..., "epoch": ...}`` of the run's saved weights (``model.safetensors``, or the
    checkpoint of a run stopped before writing them).

    Raises:
        RunError: neither file is there, or it is not readable.
    """
    run_dir = Path(run_dir)
    if (run_dir / WEIGHTS).is_file():
        weights = checked(WeightsMetadata, read_metadata(run_dir / WEIGHTS), run_dir / WEIGHTS)
        return {"step": _or_unknown(weights.step), "epoch": _or_unknown(weights.epoch)}
    if (run_dir / CHECKPOINT).is_file():
        meta = read_metadata(run_dir / CHECKPOINT)
        position = checked(CheckpointMetadata, meta, run_dir / CHECKPOINT).position
        return {"step": position.step, "epoch": position.epoch}
    raise RunError(f"{run_dir}: no {WEIGHTS} or {CHECKPOINT}; the run never saved weights")


def _or_unknown(count: int | None) -> int:
    return -1 if count is None else count


def read_cached(
    run_dir: str | Path, iw_samples: int, spec: ModelSpec | None = None
) -> dict[str, Any] | None:
    """The cached metrics when they measured the run's current weights with this K on the test
    draw of its spec (``spec``, when the caller has loaded it already), else None.

    Raises:
        RunError: ``eval.json`` is not a regular file of at most 16 MiB (a FIFO, a link to a
            device, a huge file): something foreign, which is neither read nor replaced.
    """
    path = Path(run_dir) / EVAL
    if not os.path.lexists(path):
        return None
    raw = read_small_file(path)
    try:
        cached = json.loads(raw)
        current = trained_position(run_dir)
    except (ValueError, RecursionError, GenkitError):  # a torn or stale cache: measure again
        return None
    if not isinstance(cached, dict) or cached.get("weights") != current:
        return None
    if cached.get("iw_samples", 0) != iw_samples and cached.get("negative_elbo") is not None:
        return None
    if cached.get("test_draw") != _current_draw(Path(run_dir), spec):  # another test draw
        return None
    return cached


def measure_run(
    run_dir: str | Path,
    iw_samples: int = 100,
    device: str = "cpu",
    cache: bool = True,
    spec: ModelSpec | None = None,
) -> dict[str, Any]:
    """The run's final test metrics: from ``eval.json`` when it is current, else computed (and,
    with ``cache``, written there; a run directory that cannot be written is left as it is).
    ``spec``: the run's spec, when the caller has loaded it already.

    Raises:
        RunError, DataError: the run or its data cannot be loaded.
    """
    from .data import load_data, measured_draw
    from .evaluation import evaluate_test_split
    from .run import load_run

    run_dir = Path(run_dir)
    cached = read_cached(run_dir, iw_samples, spec)
    if cached is not None:
        return cached
    weights = trained_position(run_dir)
    model = load_run(run_dir, device=device)
    assert model.spec is not None  # load_run builds the model from the run's spec
    report = evaluate_test_split(model, load_data(model.spec), iw_samples=iw_samples)
    draw = measured_draw(model.spec.data)
    loss = training_test_loss(run_dir, model.spec)
    if loss is not None:
        report["test_loss"] = loss
    report = {"model": model.spec.model, "data": model.spec.data.type, **report,
              "test_draw": draw, "weights": weights}  # fmt: skip
    kept = _current_scores(_read_eval(run_dir), weights)  # the metrics of these weights stay
    if kept:
        report["metrics"] = kept
    if cache:
        _write_eval(run_dir, report)
    return report


def training_test_loss(run_dir: str | Path, spec: ModelSpec) -> float | None:
    """The last test loss in the run's record (the objective it trained on, per test example),
    or None when there is none or training measured it on another test draw.
    """
    from .data import measured_draw
    from .record import has_history, read_history

    run_dir = Path(run_dir)
    if not has_history(run_dir) or _training_test_draw(run_dir) != measured_draw(spec.data):
        return None
    losses = [v for v in read_history(run_dir).get("test_loss", []) if v is not None]
    return float(losses[-1]) if losses else None


def _current_draw(run_dir: Path, spec: ModelSpec | None) -> dict[str, Any] | None:
    """The test draw the run is measured on now (see :func:`~genkit_core.data.measured_draw`)."""
    from .data import measured_draw
    from .run import load_run_spec

    return measured_draw((spec or load_run_spec(run_dir)).data)


def _training_test_draw(run_dir: Path) -> dict[str, Any] | None:
    """The test draw of the test losses in the run's record: a binarised run trained
    before ``data.binarize_seed`` existed (its ``spec.yaml`` lacks the field) drew its test set
    with its ``train.seed``.
    """
    from .data import measured_draw
    from .run import load_run_spec
    from .spec import read_spec_file

    spec = load_run_spec(run_dir)
    written = read_spec_file(run_dir / SPEC).get("data")
    if spec.data.binarize != "none" and "binarize_seed" not in (written or {}):
        return {"binarize": spec.data.binarize, "seed": spec.train.seed}
    return measured_draw(spec.data)


# --- metric components ------------------------------------------------------------------------


def metric_spec(spec: str | Mapping[str, Any], registry: Registry | None = None) -> BaseModel:
    """A metric's validated spec from its name (``mig``), an inline YAML mapping
    (``'{type: dci, num_train: 2000}'``) or a mapping.

    Raises:
        SpecError: an unknown metric (with the closest name), or parameters it refuses.
    """
    from .components import component_spec

    return component_spec("metric", spec, registry, example="mig or '{type: dci, num_train: 2000}'")


def metric_key(params: BaseModel, registry: Registry | None = None) -> str:
    """The key a metric's scores are kept under (:meth:`~genkit_core.Metric.key`): its type,
    or its type and what it measured (``fd@code_maf``).
    """
    from .registry import get_registry

    cls: type[Metric] = (registry or get_registry()).get("metric", params.type).cls  # type: ignore[attr-defined]
    return cls.key(params)


def prior_scores(run_dir: str | Path) -> dict[str | None, dict[str, float]]:
    """The scores kept in the run's ``eval.json`` for its current weights, by the prior whose
    draws they measured (a name under ``RUN/priors/``; None for the run's own prior):
    ``{None: {"fd": 31.2, ...}, "code_maf": {"fd": 20.4, ...}}``. A fitted prior's are kept as
    ``<metric>@<prior>``. ``eval.json`` is read once.
    """
    found = _current_scores(_read_eval(Path(run_dir)), trained_position(run_dir))
    scores: dict[str | None, dict[str, float]] = {}
    for key, entry in found.items():
        if not isinstance(entry.get("scores"), dict):
            continue
        of_prior = scores.setdefault(key.partition("@")[2] or None, {})
        for score, value in entry["scores"].items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                of_prior[score] = float(value)
    return scores


def evaluate_metrics(
    run_dir: str | Path,
    specs: Iterable[str | Mapping[str, Any] | BaseModel],
    device: str = "cpu",
    cache: bool = True,
    registry: Registry | None = None,
) -> dict[str, dict[str, Any]]:
    """The scores of each metric (see :func:`metric_spec` for what ``specs`` may hold) on the
    run's model, by metric name: from ``eval.json`` when it holds the same metric with the same
    parameters for the run's current weights, else computed (and, with ``cache``, written
    there, beside the other metrics of these weights).

    Returns:
        ``{name: {"params": {...}, "scores": {...}, "weights": {"step", "epoch"}}}``.

    Raises:
        SpecError: an unknown metric, parameters it refuses, or one metric named twice.
        DataError: a metric needs the data's true factors and the run's data has none.
        RunError: the run cannot be loaded.
        PluginError: a metric failed or returned something that is not a dict of numbers.
    """
    from .registry import get_registry
    from .run import load_run_spec

    registry = registry or get_registry()
    run_dir = Path(run_dir)
    load_run_spec(run_dir, registry)  # first: a metric may come from a module in its plugins:
    models = [s if isinstance(s, BaseModel) else metric_spec(s, registry) for s in specs]
    names = [metric_key(m, registry) for m in models]
    twice = next((n for n in names if names.count(n) > 1), None)
    if twice is not None:
        raise SpecError(f"{twice} is named twice; name each metric once", field="metric")
    weights = trained_position(run_dir)
    stored = _read_eval(run_dir)
    found = _current_scores(stored, weights)
    wanted = {n: m.model_dump(mode="json") for n, m in zip(names, models, strict=True)}
    missing = [
        m for n, m in zip(names, models, strict=True) if found.get(n, {}).get("params") != wanted[n]
    ]
    for name, scores in _compute(run_dir, missing, device, registry) if missing else ():
        found[name] = {"params": wanted[name], "scores": scores, "weights": weights}
        if cache:  # after each: a later metric that fails leaves the earlier ones kept
            _write_eval(run_dir, {**stored, "metrics": found})
    return {name: found[name] for name in names}


def score_columns(report: Mapping[str, Any]) -> dict[str, float]:
    """The metric scores of a report (``eval.json``) that measured its weights, as columns
    named ``<metric>.<score>``: ``{"mig.discrete_mig": 0.21}``.
    """
    return {
        f"{name}.{score}": value
        for name, entry in _current_scores(report, report.get("weights")).items()
        if isinstance(entry.get("scores"), dict)
        for score, value in entry["scores"].items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }


def _compute(
    run_dir: Path, specs: list[BaseModel], device: str, registry: Registry
) -> Iterator[tuple[str, dict[str, float]]]:
    """Each metric's name and scores, computed on the run's model and data."""
    import numpy as np

    from .components import build_component
    from .data import data_source, load_data
    from .interfaces import MetricData
    from .interfaces.metric import provides_factors
    from .run import load_run

    model = load_run(run_dir, device=device, registry=registry)
    spec = model.spec
    assert spec is not None  # load_run builds the model from the run's spec
    source = data_source(spec, registry)
    factors = source if provides_factors(source) else None
    data = MetricData(spec.data.type, lambda: load_data(spec, registry), factors, run_dir)  # type: ignore[arg-type]
    for params in specs:
        metric = build_component("metric", params, registry)
        _check_fits(metric, model, data)
        generator = np.random.default_rng(metric.params.seed)
        scores = _call(metric, model, data, generator, registry)
        yield type(metric).key(params), _scores(metric, scores, registry)


def _check_fits(metric: Any, model: LatentVariableModel, data: Any) -> None:
    name = metric.params.type
    if metric.needs_factors and data.factors is None:
        raise DataError(
            f"metric '{name}' needs the data's true factors, and data '{data.name}' has none "
            "(it is not a GroundTruthData); evaluate it on a run trained on data with factors, "
            "e.g. data: {type: dsprites}"
        )
    if metric.needs_factors and model.conditioner is not None:
        raise RunError(
            f"metric '{name}' encodes observations alone, and a {model.kind} needs a condition "
            "with each; evaluate it on a vae or an ae"
        )


def _call(metric: Any, model: Any, data: Any, generator: Any, registry: Registry) -> Any:
    """``metric(model, data, generator)``; a failure that is not genkit's own error names the
    metric and its plugin (``--traceback`` shows where).
    """
    import numpy as np

    try:
        with np.errstate(divide="ignore", invalid="ignore"):  # a nan score is said below
            return metric(model, data, generator)
    except GenkitError:
        raise
    except Exception as exc:
        name = metric.params.type
        plugin = registry.get("metric", name).plugin
        raise PluginError(
            f"metric '{name}' from plugin '{plugin}' failed: {type(exc).__name__}: {exc}"
        ) from exc


def _scores(metric: Any, scores: Any, registry: Registry) -> dict[str, float]:
    """``scores`` checked to be a dict of names and numbers (a plugin's mistake, else)."""
    name = metric.params.type
    fine = isinstance(scores, dict) and all(
        isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool)
        for k, v in scores.items()
    )
    if not fine:
        plugin = registry.get("metric", name).plugin
        raise PluginError(
            f"metric '{name}' from plugin '{plugin}' returned {scores!r:.80}; a metric returns "
            "a dict of score names and numbers"
        )
    bad = next((k for k, v in scores.items() if not math.isfinite(v)), None)
    if bad is not None:
        raise RunError(
            f"metric '{name}' gave {bad} = {scores[bad]}: with too few draws a factor may not "
            f"vary, or a classifier see one class; raise its sample counts ({metric.params})"
        )
    return {k: float(v) for k, v in scores.items()}


def _read_eval(run_dir: Path) -> dict[str, Any]:
    """``eval.json`` as a dict, or an empty one when it is missing, torn or not a JSON object.

    Raises:
        RunError: it is not a regular file of at most 16 MiB (see :func:`read_cached`).
    """
    path = run_dir / EVAL
    if not os.path.lexists(path):
        return {}
    try:
        stored = json.loads(read_small_file(path))
    except (ValueError, RecursionError):
        return {}
    return stored if isinstance(stored, dict) else {}


def _current_scores(stored: Mapping[str, Any], weights: Any) -> dict[str, Any]:
    """The metric entries of ``stored`` computed for these weights."""
    metrics = stored.get("metrics")
    if not isinstance(metrics, dict):
        return {}
    return {
        name: entry
        for name, entry in metrics.items()
        if isinstance(entry, dict) and entry.get("weights") == weights and _well_formed(entry)
    }


def _well_formed(entry: dict[str, Any]) -> bool:
    """An entry as :func:`evaluate_metrics` writes it (an edited one is computed again)."""
    scores = entry.get("scores")
    return (
        isinstance(entry.get("params"), dict)
        and isinstance(scores, dict)
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in scores.values())
    )


def _write_eval(run_dir: Path, report: Mapping[str, Any]) -> None:
    with contextlib.suppress(RunError):  # a read-only run: measured, just not remembered
        atomic_write(run_dir / EVAL, (json.dumps(report, indent=2) + "\n").encode())
