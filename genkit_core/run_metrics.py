"""A run's final test metrics, computed once and cached in its ``eval.json``.

The metrics are :func:`~genkit_core.evaluation.evaluate_test_split`'s (what ``genkit eval``
prints: the negative ELBO and its terms, the importance-weighted -log p(x), active units, per
test example in nats) plus ``test_loss``, the last test loss in the run's record (the objective
the run trained on, left out when training measured it on another test draw). The cache
records which weights it measured (their step), K and the test draw (``test_draw``: which
binarisation of the test images, see :func:`~genkit_core.data.measured_draw`); a run trained
further, a request for another K, or a cache of another draw is measured again.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import GenkitError, RunError
from .files import atomic_write, read_metadata, read_small_file
from .metadata import CheckpointMetadata, WeightsMetadata, checked
from .run import CHECKPOINT, EVAL, SPEC, WEIGHTS

if TYPE_CHECKING:
    from .spec import ModelSpec

__all__ = ["INFO_KEYS", "measure_run", "read_cached", "trained_position"]

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
    from .record import has_history, read_history
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
    if has_history(run_dir) and _training_test_draw(run_dir) == draw:
        losses = [v for v in read_history(run_dir).get("test_loss", []) if v is not None]
        if losses:
            report["test_loss"] = losses[-1]
    report = {"model": model.spec.model, "data": model.spec.data.type, **report,
              "test_draw": draw, "weights": weights}  # fmt: skip
    if cache:
        with contextlib.suppress(RunError):  # a read-only run: measured, just not remembered
            atomic_write(run_dir / EVAL, (json.dumps(report, indent=2) + "\n").encode())
    return report


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
