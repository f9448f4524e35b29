r"""Priors fitted to a trained run's codes afterwards, without retraining: ``RUN/priors/NAME/``.

Any prior ``fitted_after_training`` (``code_gaussian``, ``code_gmm``, ``code_maf``, ``code_vae``,
``code_diffusion``, ...) can be fitted to the codes of a finished run's training split
(posterior means for a VAE, the codes of an AE): :func:`fit_prior` (``genkit fit-prior RUN
--prior '{type: code_maf}'``) encodes the split once, fits the prior and stores it beside the
run, leaving the run's own ``spec.yaml`` and weights untouched:

- ``RUN/priors/NAME/prior.yaml``: the prior's resolved section, to read (the fit in progress's);
- ``RUN/priors/NAME/prior.safetensors``: its weights and, in their metadata, the section they
  were fitted with (what is loaded), written atomically when the fit ends: a fit with
  ``--overwrite`` replaces the earlier prior only then;
- ``RUN/priors/NAME/fit_checkpoint.safetensors``: the fit's state while it runs, for a prior
  fitted by :func:`~genkit_core.training.fit_density.fit_density`; a fit stopped by Ctrl-C (or
  killed) continues from it when the same command is run again, and ends as an uninterrupted
  one would.

:func:`load_run` ``(RUN, prior=NAME)`` and ``genkit sample RUN --prior NAME`` put the fitted prior
in the model's place (``model.prior``), so everything that draws from a model (``model.sample``,
the report, a sample-quality metric) draws from it. Such a model has a prior fitted after
training, so its ELBO is not defined (:attr:`~genkit_core.LatentVariableModel.is_variational`
is false): evaluate a VAE's bound on the run without ``prior=``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch
import yaml

from .components import build_component, component_spec
from .errors import RunError, SpecError
from .files import atomic_write, lock_file, read_small_file, read_tensors, write_tensors
from .interfaces import Prior
from .model import LatentVariableModel
from .registry import Registry, get_registry
from .weights import load_weights

__all__ = [
    "FIT_CHECKPOINT",
    "PRIORS",
    "PRIOR_SPEC",
    "PRIOR_WEIGHTS",
    "attach_prior",
    "check_prior_name",
    "fit_prior",
    "fitted_priors",
    "load_fitted_prior",
    "prior_in_place",
]

PRIORS = "priors"
PRIOR_SPEC = "prior.yaml"
PRIOR_WEIGHTS = "prior.safetensors"
FIT_CHECKPOINT = "fit_checkpoint.safetensors"
FIT_LOCK = "fit.lock"
"""Held by the process fitting the prior (the kernel frees it when that process ends)."""
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_EXAMPLE = "code_maf or '{type: code_maf, epochs: 20}'"


def check_prior_name(name: str) -> str:
    """``name`` if it is a safe directory name under ``RUN/priors/``.

    Raises:
        RunError: it is empty, longer than 64 characters, or holds a slash, ``..`` or a
            character other than letters, digits, ``_``, ``-`` and ``.``.
    """
    if not _NAME.fullmatch(name) or ".." in name:
        raise RunError(
            f"prior name {name!r:.80}: use 1 to 64 letters, digits, '_', '-' or '.', starting "
            "with a letter or digit, without '..' or '/' (it names a directory in RUN/priors/)"
        )
    return name


def fitted_priors(run_dir: str | Path) -> list[str]:
    """The names of the priors fitted to the run (finished fits only), sorted."""
    root = Path(run_dir) / PRIORS
    if not root.is_dir():
        return []
    found = (d.name for d in root.iterdir() if (d / PRIOR_WEIGHTS).is_file())
    return sorted(n for n in found if _NAME.fullmatch(n) and ".." not in n)


def fit_prior(
    run_dir: str | Path,
    prior: str | Mapping[str, Any],
    name: str | None = None,
    device: str | torch.device = "cpu",
    overwrite: bool = False,
    registry: Registry | None = None,
) -> Path:
    """Fit a prior to a trained run's training codes and store it in ``RUN/priors/NAME/``.

    Args:
        run_dir: a run directory ``genkit train`` wrote.
        prior: the prior's spec: its name (``code_maf``), an inline YAML mapping
            (``'{type: code_maf, epochs: 20}'``) or a mapping.
        name: the directory under ``RUN/priors/`` (default: the prior's type).
        device: where the codes are computed and the prior fitted.
        overwrite: replace a prior already fitted under this name.
        registry: where component names resolve.

    Returns:
        The prior's directory.

    Raises:
        SpecError: the prior is unknown, refuses its parameters, is not fitted after training,
            or does not fit the model's latent (a flat prior on a grid latent).
        RunError: the run cannot be loaded, the name is unsafe, or a prior of that name is
            already fitted (and ``overwrite`` is false).
    """
    from .data import load_data, make_batches
    from .run import load_run
    from .training.fit_density import resumable

    registry = registry or get_registry()
    run_dir = Path(run_dir)
    section = component_spec("prior", prior, registry, example=_EXAMPLE)
    name = check_prior_name(section.type if name is None else name)  # type: ignore[attr-defined]
    model = load_run(run_dir, device=device, registry=registry)
    fitted = _build(model, section, registry)
    where = run_dir / PRIORS / name
    if any(p.is_symlink() for p in (run_dir / PRIORS, where)):
        raise RunError(
            f"{run_dir / PRIORS}: a link, which genkit does not write through (it may lead out of "
            "the run); replace it with a folder"
        )
    if (where / PRIOR_WEIGHTS).is_file() and not overwrite:
        raise RunError(
            f"{where}: a prior is already fitted under the name '{name}'; pass --overwrite to "
            "fit it again, or --name to keep both"
        )
    assert model.spec is not None  # load_run builds the model from the run's spec
    data = load_data(model.spec, registry)
    batches = make_batches(
        data.train, data.info, model.conditioner is not None,
        model.spec.train.eval_batch_size, torch.device(device), num_workers=0,
    )  # fmt: skip
    codes = model.codes_of(batches.in_order())
    if not torch.isfinite(codes).all():
        raise RunError(
            f"{run_dir}: the codes of its training split hold NaN or inf (the model diverged), "
            "so no prior can be fitted to them; train the run again with a lower train.lr"
        )
    text = yaml.safe_dump(section.model_dump(mode="json"), sort_keys=False).encode()
    lock = lock_file(where / FIT_LOCK, wait=False)
    if lock is None:
        raise RunError(
            f"{where}: another process is fitting the prior '{name}' now; let it finish, or fit "
            "this one under another --name"
        )
    with lock:
        if not (where / PRIOR_SPEC).is_file() or read_small_file(where / PRIOR_SPEC) != text:
            (where / FIT_CHECKPOINT).unlink(missing_ok=True)  # a fit of another prior: start over
        atomic_write(where / PRIOR_SPEC, text)
        with resumable(where / FIT_CHECKPOINT):
            fitted.fit(codes)
        meta = {"prior": section.model_dump(mode="json")}
        write_tensors(where / PRIOR_WEIGHTS, fitted.state_dict(), meta)
        (where / FIT_CHECKPOINT).unlink(missing_ok=True)
        # gone while held: a process that opened it meanwhile fails to take it (never waits)
        (where / FIT_LOCK).unlink(missing_ok=True)
    return where


def attach_prior(
    model: LatentVariableModel, run_dir: str | Path, name: str, registry: Registry | None = None
) -> LatentVariableModel:
    """Put the prior fitted under ``RUN/priors/NAME/`` in the model's place; returns the model.

    Raises:
        RunError: as :func:`load_fitted_prior`.
    """
    model.prior = load_fitted_prior(model, run_dir, name, registry)
    return model


@contextlib.contextmanager
def prior_in_place(model: LatentVariableModel, prior: Prior) -> Iterator[LatentVariableModel]:
    """Draw from ``prior`` inside the block (``model.sample``, ``sample_grid``, a metric that
    samples); the model's own prior is back afterwards.
    """
    own = model.prior
    model.prior = prior
    try:
        yield model
    finally:
        model.prior = own


def load_fitted_prior(
    model: LatentVariableModel, run_dir: str | Path, name: str, registry: Registry | None = None
) -> Prior:
    """The prior fitted under ``RUN/priors/NAME/``, bound to ``model``, in eval mode.

    Raises:
        RunError: the name is unsafe, no prior is fitted under it (the message lists those
            that are), or its files are damaged or do not fit the model.
    """
    registry = registry or get_registry()
    where = Path(run_dir) / PRIORS / check_prior_name(name)
    if not (where / PRIOR_WEIGHTS).is_file():
        known = ", ".join(fitted_priors(run_dir)) or "none yet"
        raise RunError(
            f"{run_dir}: no prior fitted under the name '{name}' (fitted: {known}); fit one "
            f"with genkit fit-prior {run_dir} --prior '{{type: code_maf}}' --name {name}"
        )
    tensors, meta = read_tensors(where / PRIOR_WEIGHTS)
    try:
        section = component_spec("prior", meta.get("prior") or {}, registry, example=_EXAMPLE)
        prior = _build(model, section, registry)
    except SpecError as exc:
        raise RunError(
            f"{where / PRIOR_WEIGHTS}: not a prior this run can use ({exc}); fit it again with "
            "genkit fit-prior --overwrite"
        ) from None
    load_weights(prior, tensors, where / PRIOR_WEIGHTS)
    return prior.eval()


def _build(model: LatentVariableModel, section: Any, registry: Registry) -> Prior:
    """The prior a section names, bound to and checked against ``model``, on its device."""
    assert model.spec is not None  # load_run builds the model from the run's spec
    device = next(model.parameters()).device
    with torch.device(device):
        prior: Prior = build_component("prior", section, registry, latent_dim=model.spec.latent_dim)
    if not prior.fitted_after_training:
        fitted = sorted(
            c.name
            for c in registry.components("prior")
            if getattr(c.cls, "fitted_after_training", False)
        )
        raise SpecError(
            f"the '{section.type}' prior is trained with the model, not fitted after training; "
            f"choose one of {', '.join(fitted)}",
            field="prior.type",
        )
    prior.bind(model)
    prior.check(model)
    return prior
