"""Run directories: what a training run leaves behind, and :func:`load_run` to use it.

A run directory holds ``spec.yaml`` (the resolved spec), ``model.safetensors`` (the weights),
``checkpoint.safetensors`` (everything needed to resume), ``history.jsonl`` (each epoch's row:
:mod:`genkit_core.record`), ``samples.png`` and ``reconstructions.png`` (the ``pictures``
callback); later ``report.html``, the ``genkit plot`` PNGs and ``eval.json`` (the final test
metrics, cached by ``genkit sweep`` and ``genkit compare``). Loggers and callbacks own what else
they write there (the csv logger's ``metrics.csv``, the tensorboard logger's event files).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from .build import build_model
from .errors import RunError, SpecError, shown
from .files import atomic_write, path_error, read_tensors, write_tensors
from .interfaces import DataInfo
from .metadata import CheckpointMetadata, WeightsMetadata, checked
from .model import LatentVariableModel
from .record import RECORD
from .registry import Registry
from .spec import ModelSpec, dump_spec, load_spec
from .spec.files import is_stdin
from .spec.loading import resolve
from .weights import load_weights, model_tensors

__all__ = [
    "CHECKPOINT",
    "EVAL",
    "PRUNED",
    "RECONSTRUCTIONS",
    "SAMPLES",
    "SPEC",
    "WEIGHTS",
    "check_free_space",
    "default_run_dir",
    "load_run",
    "load_run_spec",
    "open_run_dir",
    "prepare_run_dir",
    "remove_stale_temporaries",
    "save_spec",
    "save_weights",
]

SPEC = "spec.yaml"
WEIGHTS = "model.safetensors"
CHECKPOINT = "checkpoint.safetensors"
SAMPLES = "samples.png"
RECONSTRUCTIONS = "reconstructions.png"
EVAL = "eval.json"  # the final test metrics, cached by genkit sweep and genkit compare
PRUNED = "pruned.json"  # why genkit sweep's pruner stopped the run (genkit_core.sweep.pruning)
_OWN_FILES: tuple[str, ...]  # extended below
_OWN_FILES = (SPEC, WEIGHTS, CHECKPOINT, RECORD, SAMPLES, RECONSTRUCTIONS, EVAL, "report.html")
_OWN_FILES += (PRUNED,)
_OWN_FILES += ("curves.png", "latent.png", "interpolation.png", "traversal.png")  # genkit plot
_OWN_FILES += ("sample.png", "sample_label*.png", "reconstruct.png")  # sample, reconstruct
_MIN_FREE_BYTES = 64 << 20


def default_run_dir(spec_path: str | Path | None, root: Path = Path("runs")) -> Path:
    """``runs/<spec name>`` (``runs/stdin`` for a spec read from standard input).

    Always that one directory: a run already there is refused unless ``--overwrite`` replaces
    it, exactly as for ``-o``, so ``genkit eval runs/<spec name>`` reads the run just trained.
    """
    if spec_path is None:
        return root / "run"
    return root / ("stdin" if is_stdin(spec_path) else Path(spec_path).stem)


def prepare_run_dir(path: Path, overwrite: bool = False, model_bytes: int = 0) -> Path:
    """Create the run directory, refusing to overwrite one and checking it can be written.

    Raises:
        RunError: the directory holds a run (and ``overwrite`` is false), or it is not writable,
            or its disk lacks room for the weights and checkpoints.
    """
    if path.exists() and not path.is_dir():
        raise RunError(f"{path}: exists and is not a directory; choose another -o")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise RunError(
            f"{path}: already holds files; pass --overwrite to replace the run, "
            f"--resume {path} to continue it, or choose another -o"
        )
    try:  # tried before anything is removed: an unwritable run is left whole
        path.mkdir(parents=True, exist_ok=True)
        (path / ".genkit-write-test").write_bytes(b"ok")
        (path / ".genkit-write-test").unlink()
        if overwrite:
            _remove_own_files(path)
    except OSError as exc:
        raise path_error(exc, path, "cannot write the run directory") or RunError(
            f"{path}: cannot write the run directory ({exc.strerror}); choose another -o"
        ) from None
    remove_stale_temporaries(path)
    check_free_space(path, model_bytes)
    return path


def open_run_dir(path: Path, resume: bool, overwrite: bool, model_bytes: int) -> None:
    """Prepare ``path`` for a new run (:func:`prepare_run_dir`), or reopen the run it holds to
    continue it: temporaries of killed writes removed, room for the weights checked.
    """
    if not resume:
        prepare_run_dir(path, overwrite, model_bytes)
        return
    remove_stale_temporaries(path)
    check_free_space(path, model_bytes)


def _remove_own_files(run_dir: Path) -> None:
    """Delete genkit's own files of a run directory (``--overwrite``), not the user's."""
    for name in _OWN_FILES:
        for own in run_dir.glob(name):
            own.unlink(missing_ok=True)


def check_free_space(path: Path, model_bytes: int) -> None:
    """Refuse to start a run whose files would not fit on the disk of ``path``.

    At its peak a run holds its checkpoint (weights and up to two optimiser moments: 3x the
    weights), the new checkpoint being written beside it (3x) and ``model.safetensors`` (1x),
    plus 64 MiB for pictures and metrics.

    Raises:
        RunError: the disk has less room than that.
    """
    need = 7 * model_bytes + _MIN_FREE_BYTES
    free = shutil.disk_usage(path).free
    if free < need:
        raise RunError(
            f"{path}: only {free >> 20} MiB free, and this run needs about {need >> 20} MiB; "
            "free some space or choose another -o"
        )


def remove_stale_temporaries(run_dir: Path) -> None:
    """Delete the temporary files of writes that a killed process left half done."""
    for name in _OWN_FILES:
        for stale in run_dir.glob(f".{name}.*.tmp"):
            stale.unlink(missing_ok=True)


def save_spec(run_dir: Path, spec: ModelSpec) -> None:
    """Write the resolved spec (every default filled in) as ``spec.yaml``."""
    atomic_write(run_dir / SPEC, dump_spec(resolve(spec)).encode())


def save_weights(
    run_dir: Path, model: LatentVariableModel, extra: dict[str, Any] | None = None
) -> None:
    """Write the model's weights, its data description and the resolved spec it was trained
    with as ``model.safetensors`` (:func:`load_run` compares that spec with ``spec.yaml``).
    """
    spec = None if model.spec is None else resolve(model.spec)
    meta = {"data": asdict(model.data_info), "spec": spec, **(extra or {})}
    write_tensors(run_dir / WEIGHTS, model.state_dict(), meta)


def load_run_spec(run_dir: str | Path, registry: Registry | None = None) -> ModelSpec:
    """The spec a run was trained with.

    Raises:
        RunError: the directory or its ``spec.yaml`` is missing.
    """
    run_dir = Path(run_dir)
    if not (run_dir / SPEC).is_file():
        what = "no such directory" if not run_dir.is_dir() else f"no {SPEC} in it"
        if os.path.lexists(run_dir / SPEC):
            what = f"its {SPEC} is not a regular file but a pipe, a device or a broken link"
        raise RunError(f"{run_dir}: not a genkit run ({what}); pass a directory genkit train wrote")
    try:
        return load_spec(run_dir / SPEC, registry=registry)
    except SpecError as exc:
        if exc.field and exc.field.startswith("plugins"):  # refused, not invalid
            raise RunError(f"{run_dir / SPEC}: {exc.field}: {exc.detail}") from None
        raise RunError(f"{run_dir / SPEC} no longer validates: {exc.detail}") from None


def load_run(
    run_dir: str | Path,
    device: str | torch.device = "cpu",
    registry: Registry | None = None,
    prior: str | None = None,
) -> LatentVariableModel:
    """Rebuild a trained model from its run directory, in eval mode.

    The weights come from ``model.safetensors`` (or, for a run stopped before it wrote them,
    from the last checkpoint); the spec from ``spec.yaml``. The data is not needed. With
    ``prior``, the prior fitted under that name in ``RUN/priors/`` (``genkit fit-prior``)
    replaces the model's own (:func:`~genkit_core.fitted_priors.attach_prior`).

    Raises:
        RunError: files are missing or corrupt, or the weights do not fit the spec.
    """
    run_dir = Path(run_dir)
    spec = load_run_spec(run_dir, registry)
    weights_file = run_dir / WEIGHTS
    if weights_file.is_file():
        tensors, meta = _read_weights(run_dir)
        weights_meta = checked(WeightsMetadata, meta, weights_file)
        data = weights_meta.data
        _check_spec_unchanged(weights_meta.spec, spec, run_dir)
    elif (run_dir / CHECKPOINT).is_file():
        weights_file = run_dir / CHECKPOINT
        tensors, meta = read_tensors(weights_file)
        tensors = model_tensors(tensors)
        data = checked(CheckpointMetadata, meta, weights_file).data
    else:
        raise RunError(f"{run_dir}: no {WEIGHTS} or {CHECKPOINT}; the run never saved weights")
    info = None if data is None else DataInfo(**data.model_dump())
    model = build_model(spec, data=info, registry=registry, device=device)
    load_weights(model, tensors, weights_file)
    if prior is not None:
        from .fitted_priors import attach_prior

        attach_prior(model, run_dir, prior, registry)
    return model.eval()


_MAY_CHANGE = ("train", "data", "plugins")
"""Sections of ``spec.yaml`` that may change after training: how to train (``--resume --set``
changes them) and which data to evaluate on. Every other field shapes the model or its loss."""


def _check_spec_unchanged(saved: dict[str, Any] | None, spec: ModelSpec, run_dir: Path) -> None:
    """Refuse a ``spec.yaml`` edited after the weights were saved with their own spec.

    Only fields both specs have are compared: weights of an older genkit lack fields added
    since (and weights of genkit 0.2 and before carry no spec at all).

    Raises:
        RunError: a field outside :data:`_MAY_CHANGE` differs; names it and both values.
    """
    if saved is None:
        return
    changed = [
        f"{field} ({shown(old, 40)} -> {shown(new, 40)})"
        for field, (old, new) in _shared_differences(saved, resolve(spec)).items()
        if field.split(".")[0] not in _MAY_CHANGE
    ]
    if changed:
        raise RunError(
            f"{run_dir / SPEC}: {', '.join(changed[:5])}{' ...' * (len(changed) > 5)} changed "
            f"after {WEIGHTS} was trained with the other values, so the model it describes is "
            f"not the one trained; undo the edit, or train a new run with the new spec"
        )


def _shared_differences(old: Any, new: Any, prefix: str = "") -> dict[str, tuple[Any, Any]]:
    """Dotted paths present in both specs whose values differ, with both values."""
    if isinstance(old, dict) and isinstance(new, dict):
        found: dict[str, tuple[Any, Any]] = {}
        for key in (k for k in old if k in new):
            found.update(_shared_differences(old[key], new[key], f"{prefix}{key}."))
        return found
    return {} if old == new else {prefix.rstrip("."): (old, new)}


def _read_weights(run_dir: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``model.safetensors``; when it is damaged, the error says whether the checkpoint beside
    it is intact, since without the weights file genkit loads the checkpoint's weights.
    """
    try:
        return read_tensors(run_dir / WEIGHTS)
    except RunError as exc:
        if not (run_dir / CHECKPOINT).is_file():
            raise
        try:
            meta = read_tensors(run_dir / CHECKPOINT)[1]
            step = checked(CheckpointMetadata, meta, run_dir / CHECKPOINT).position.step
        except RunError:
            raise exc from None
        raise RunError(
            f"{exc}; or use {CHECKPOINT} beside it, which is intact (step {step}): delete "
            f"{run_dir / WEIGHTS} and genkit loads the checkpoint's weights"
        ) from None
