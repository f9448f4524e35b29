"""Runs grouped into configurations: one per spec, the seed (and how it ran) left out.

Two runs are of one configuration when their resolved specs agree in everything but
:data:`RUNTIME_FIELDS`: the seed, and settings that change where and how fast a run trains but
not what it trains. The configurations are told apart by the keys in which they differ from
each other (:func:`keys`, a table column each); each is named by how it differs, in those keys,
from a reference: the sweep's base, resolved as a run resolves its spec, when the runs come from
one ``genkit sweep`` directory, else the part all the configurations share.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import GenkitError, RunError
from ..run import SPEC, load_run_spec
from ..run_metrics import INFO_KEYS, evaluate_metrics, measure_run, score_columns, trained_position
from ..spec import resolve
from ..sweep.naming import value_label

__all__ = [
    "RUNTIME_FIELDS",
    "Configuration",
    "PrunedRun",
    "RunRecord",
    "collect",
    "columns",
    "difference",
    "find_runs",
    "keys",
    "pruned_runs",
]

RUNTIME_FIELDS = (
    "name", "logging", "train.seed", "train.device", "train.progress", "train.num_workers",
    "train.data_placement", "train.compile",
)  # fmt: skip
"""Spec fields that do not make a configuration: runs differing only in these are grouped."""

_MISSING = object()


@dataclass(frozen=True)
class RunRecord:
    """One run: its directory, resolved spec and final test metrics."""

    run_dir: Path
    spec: dict[str, Any]
    metrics: dict[str, Any]

    @property
    def seed(self) -> int:
        """``train.seed``."""
        return int(self.spec["train"]["seed"])


@dataclass
class Configuration:
    """Runs of one spec over seeds, named by its difference from the reference spec.

    Attributes:
        values: its value at each key in which the configurations differ (:func:`keys`),
            None where its spec has no such field.
        difference: of those keys, the ones where it differs from the reference, with its
            values (what :attr:`label` shows).
    """

    key: str
    spec: dict[str, Any]
    runs: list[RunRecord] = field(default_factory=list)
    difference: dict[str, Any] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``likelihood=gaussian, divergence.beta=4``; ``base`` when it is the reference."""
        if not self.difference:
            return "base"
        return ", ".join(f"{k}={value_label(v)}" for k, v in self.difference.items())


@dataclass(frozen=True)
class PrunedRun:
    """A run a sweep's pruner stopped (``pruned.json``): not compared, listed apart.

    Attributes:
        epoch: the epoch after which it was stopped (of ``epochs``).
        test_loss: its test loss at that epoch, what the pruner judged.
        reason: the pruner's reason, as the sweep wrote it.
    """

    run_dir: Path
    epoch: int
    epochs: int
    test_loss: float | None
    reason: str


def pruned_runs(paths: Iterable[str | Path]) -> list[PrunedRun]:
    """The runs in ``paths`` (see :func:`find_runs`) that a sweep's pruner stopped, by name;
    :func:`collect` leaves them out. A run whose files cannot be read is left to its warning.
    """
    from ..sweep.pruning import read_pruned

    found = []
    for run_dir in find_runs(paths, warn=lambda line: None):  # collect says these
        try:
            pruned = read_pruned(run_dir)
            epochs = resolve(load_run_spec(run_dir))["train"]["epochs"] if pruned else 0
        except GenkitError:
            continue
        if pruned is not None:
            value = pruned.get("test_loss")
            loss = float(value) if isinstance(value, int | float) else None
            found.append(PrunedRun(run_dir, pruned["epoch"], epochs, loss, pruned["reason"]))
    return sorted(found, key=lambda r: r.run_dir.name)


def find_runs(paths: Iterable[str | Path], warn: Any = None) -> list[Path]:
    """Run directories: each path that is one, and the runs directly inside each that is not
    (a ``genkit sweep`` directory, or ``runs/``), each once.

    A run reached twice (``runs/a`` and ``runs/x/../a``, or through a symbolic link) is one
    run: counted twice it would enter its configuration's mean twice and shrink the standard
    deviation. The first path given is kept; each dropped one is named through ``warn``.

    Raises:
        RunError: a path does not exist, or holds no run.
    """
    warn = warn or _stderr
    found: dict[Path, Path] = {}  # real path -> the path given first
    for path in map(Path, paths):
        if (path / SPEC).is_file():
            inside = [path]
        elif path.is_dir():
            inside = sorted(p for p in path.iterdir() if (p / SPEC).is_file())
            if not inside:
                raise RunError(f"{path}: neither a run nor a directory of runs (no {SPEC} found)")
        else:
            what = "not a directory" if path.exists() else "no such directory"
            raise RunError(f"{path}: {what}; pass run directories or a sweep's -o")
        for run in inside:
            first = found.setdefault(run.resolve(), run)
            if first != run:
                warn(f"genkit: {run} is the run {first} again; counted once")
    return list(found.values())


def collect(
    paths: Sequence[str | Path],
    iw_samples: int = 100,
    device: str = "cpu",
    warn: Any = None,
    metrics: Sequence[Any] = (),
) -> tuple[list[Configuration], str]:
    """The configurations of the runs in ``paths`` (see :func:`find_runs`), each run measured
    (from its ``eval.json`` when current), and what their differences are taken from.

    Each run's metric scores cached in its ``eval.json`` are columns ``<metric>.<score>``;
    ``metrics`` (names or specs, as ``genkit eval --metric`` takes them) are computed where
    they are not cached.

    Runs that have not finished their epochs (and were not stopped by a callback, such as
    early stopping), or cannot be loaded or measured, are left out
    with a warning (``warn(line)``, default stderr): a half-trained run would not compare
    fairly. Runs a sweep's pruner stopped are left out without one: :func:`pruned_runs` lists
    them.

    Raises:
        RunError: no finished run was found.
    """
    from ..sweep.pruning import read_pruned

    warn = warn or _stderr
    configurations: dict[str, Configuration] = {}
    runs = find_runs(paths, warn)
    pruned = 0
    for run_dir in runs:
        try:  # one broken or half-trained run among many is left out, not fatal
            if read_pruned(run_dir) is not None:
                pruned += 1
                continue
            loaded = load_run_spec(run_dir)
            spec = resolve(loaded)
            epoch = trained_position(run_dir)["epoch"]
            if 0 <= epoch < spec["train"]["epochs"] and not _stopped(run_dir):
                raise RunError(
                    f"trained {epoch} of {spec['train']['epochs']} epochs (finish it with "
                    f"genkit train --resume {run_dir})"
                )
            measured = measure_run(run_dir, iw_samples, device, spec=loaded)
            if metrics:
                scores = evaluate_metrics(run_dir, metrics, device)
                measured = {**measured, "metrics": {**measured.get("metrics", {}), **scores}}
        except GenkitError as exc:
            warn(f"genkit: skipping {run_dir}: {exc}")
            continue
        key_spec = _without_runtime(spec)
        key = json.dumps(key_spec, sort_keys=True)
        configuration = configurations.setdefault(key, Configuration(key, key_spec))
        configuration.runs.append(RunRecord(run_dir, spec, {**measured, **score_columns(measured)}))
    if not configurations:
        some = f" ({pruned} pruned by a sweep, not compared)" if pruned else ""
        raise RunError(f"no finished run to compare among {len(runs)} run directories{some}")
    found = list(configurations.values())
    reference, what = _reference(runs, found)
    common = _common_to(found)
    varying = list(dict.fromkeys(k for c in found for k in difference(c.spec, common)))
    for c in found:
        c.runs.sort(key=lambda r: r.seed)
        _warn_repeated_seeds(c, warn)
        c.values = {k: _at(c.spec, k) for k in varying}
        c.difference = {
            k: v for k, v in difference(c.spec, reference).items() if _overlaps(k, varying)
        }
    return found, what


def _warn_repeated_seeds(configuration: Configuration, warn: Any) -> None:
    """Two runs of one configuration and one seed are repeats, or copies (``cp -r``) that no
    path can tell apart: counted as two seeds, they shrink the standard deviation. Say so.
    """
    first: dict[int, Path] = {}
    for run in configuration.runs:
        if run.seed in first:
            warn(f"genkit: warning: {first[run.seed]} and {run.run_dir} are one configuration "
                 f"with one seed ({run.seed}), copies or repeats; both are counted")  # fmt: skip
        first.setdefault(run.seed, run.run_dir)


def keys(configurations: Sequence[Configuration]) -> list[str]:
    """The dotted spec keys in which the configurations differ from each other, in spec order:
    a key they all share, even where it differs from the reference, tells none apart.
    """
    return list(configurations[0].values) if configurations else []


def columns(configurations: Iterable[Configuration]) -> list[str]:
    """The metric columns present in any run: the negative ELBO and its terms first (any term a
    model reports, not a fixed list), then the IW bound, active units and the test loss.
    """
    names: set[str] = set()
    for c in configurations:
        for run in c.runs:
            names |= {k for k, v in run.metrics.items() if k not in INFO_KEYS and _number(v)}
    first = [n for n in ("negative_elbo", "reconstruction", "kl") if n in names]
    last = [n for n in ("iw_nll", "active_units", "test_loss") if n in names]
    return first + sorted(names - set(first) - set(last)) + last


def difference(spec: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    """The dotted keys where ``spec`` differs from ``reference``, with the spec's values: inside
    a section of the same ``type`` key by key (``divergence.beta``), else the whole section.
    """
    out: dict[str, Any] = {}
    for key in [*spec, *(k for k in reference if k not in spec)]:
        a, b = spec.get(key, _MISSING), reference.get(key, _MISSING)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict) and _same_type(a, b):
            out.update({f"{key}.{k}": v for k, v in difference(a, b).items()})
        else:
            out[key] = None if a is _MISSING else a
    return out


def _same_type(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.get("type") == b.get("type")


def _common(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """What two specs share (same rule as :func:`difference`)."""
    out = {}
    for key, value in a.items():
        other = b.get(key, _MISSING)
        if value == other:
            out[key] = value
        elif isinstance(value, dict) and isinstance(other, dict) and _same_type(value, other):
            out[key] = _common(value, other)
    return out


def _reference(runs: list[Path], found: list[Configuration]) -> tuple[dict[str, Any], str]:
    """The sweep's base when every run sits in one sweep directory, else the common part."""
    parents = {r.parent for r in runs}
    if len(parents) == 1 and (next(iter(parents)) / "sweep.yaml").is_file():
        from ..sweep import load_sweep

        try:
            sweep = load_sweep(next(iter(parents)) / "sweep.yaml", check_combinations=False)
            return _settled(sweep.base, sweep.defaults), f"the base spec of sweep {sweep.name}"
        except GenkitError:
            pass  # an edited or foreign sweep.yaml: fall back to what the runs share
    return _common_to(found), "what all the configurations share"


def _settled(base: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """The base spec as a run records it: resolved, with the ``auto`` options its components
    settle when built (``divergence.estimator``) settled; else resolved only.
    """
    from ..build import build_model

    try:
        model = build_model(base, device="meta")
    except GenkitError:
        return _without_runtime(defaults)
    assert model.spec is not None  # build_model keeps the spec it built
    return _without_runtime(resolve(model.spec))


def _common_to(found: list[Configuration]) -> dict[str, Any]:
    common = found[0].spec
    for c in found[1:]:
        common = _common(common, c.spec)
    return common


def _at(spec: dict[str, Any], dotted: str) -> Any:
    node: Any = spec
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _overlaps(key: str, varying: list[str]) -> bool:
    """Whether ``key`` is, holds or lies inside one of the ``varying`` keys."""
    return any(key == v or key.startswith(v + ".") or v.startswith(key + ".") for v in varying)


def _without_runtime(spec: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    for dotted in RUNTIME_FIELDS:
        *path, last = dotted.split(".")
        node: Any = spec
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node.pop(last, None)
    return spec


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _stopped(run_dir: Path) -> bool:
    """Whether a callback (early stopping) ended the run: it is finished, not half-trained."""
    from ..training.resume import checkpoint_position

    try:
        return checkpoint_position(run_dir).stopped
    except GenkitError:
        return False
