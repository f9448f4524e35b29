"""``build_model``: compose a :class:`LatentVariableModel` from a spec, by component names alone.

The model is first built on PyTorch's ``meta`` device (no memory, no compute) and run once on a
tiny batch, so shape mismatches, missing KL pairs and absurd sizes are caught as spec errors
before anything real is allocated.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel
from torch.distributions import Distribution

from .errors import GenkitError, PluginError, SpecError
from .interfaces import DataInfo, DataSource
from .model import LatentVariableModel
from .registry import Registry, get_registry
from .spec import ModelSpec, load_spec

__all__ = ["MAX_PARAMETERS", "build_component", "build_model", "data_source", "describe_data"]

MAX_PARAMETERS = 2_000_000_000
"""Specs whose model would exceed this many parameters are refused before allocation."""


def build_component(
    section: str, params: BaseModel, registry: Registry | None = None, **context: Any
) -> Any:
    """Instantiate the component a spec section names, with the context its interface takes.

    Raises:
        SpecError: the component refuses its parameters or context (field names the section).
        PluginError: the plugin's constructor failed in a way that is not the user's mistake.
    """
    registry = registry or get_registry()
    kind = "logger" if section == "logging" else section
    name = params.type  # type: ignore[attr-defined]
    component = registry.get(kind, name)
    try:
        return component.cls(params, **context)
    except SpecError as exc:
        field = f"{section}.{exc.field}" if exc.field else section
        raise SpecError(exc.detail, field=field) from None
    except GenkitError:
        raise
    except Exception as exc:
        raise PluginError(
            f"{kind} '{name}' from plugin '{component.plugin}' failed to build: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def data_source(spec: ModelSpec, registry: Registry | None = None) -> DataSource:
    """The spec's data source, ready to ``load()``."""
    return build_component("data", spec.data, registry)


def describe_data(spec: ModelSpec, registry: Registry | None = None) -> DataInfo:
    """The shape and labels of the spec's data, after genkit's data options (``flatten``)."""
    info = data_source(spec, registry).describe()
    if spec.data.flatten:
        info = DataInfo((math.prod(info.shape),), info.num_classes, info.condition_dim, info.name)
    return info


def build_model(
    spec: ModelSpec | str | Path | dict[str, Any],
    data: DataInfo | None = None,
    registry: Registry | None = None,
    device: torch.device | str | None = None,
    overrides: Iterable[str] = (),
) -> LatentVariableModel:
    """Compose the model a spec describes.

    Args:
        spec: a validated spec, or anything :func:`~genkit_core.spec.load_spec` reads.
        data: the data's description; read from the spec's data source when None.
        registry: where component names resolve (the process-wide one by default).
        device: where parameters live (``"meta"`` to check a spec without allocating).
        overrides: ``key=value`` overrides when ``spec`` is read here.

    Raises:
        SpecError: the spec does not fit the data or its components do not fit each other.
    """
    registry = registry or get_registry()
    if not isinstance(spec, ModelSpec):
        spec = load_spec(spec, overrides, registry)
    info = data or describe_data(spec, registry)
    if spec.model == "cvae" and not info.labelled:
        raise SpecError(
            f"a cvae needs labelled data, and '{info.name}' has no labels; "
            "use labelled data or set model: vae",
            field="data",
        )
    with torch.device("meta"):
        checked = _compose(spec, info, registry)
    _check_size(checked)
    ran = _dry_run(checked, meta=True)
    if torch.device(device or "cpu").type == "meta":
        return checked
    with torch.device(device or "cpu"):
        model = _compose(spec, info, registry)
    if not ran:  # a component cannot run on the meta device: check the real model instead
        with torch.no_grad():
            _dry_run(model, meta=False)
    return model


def _compose(spec: ModelSpec, info: DataInfo, registry: Registry) -> LatentVariableModel:
    conditioner = None
    in_shape, latent_features = info.shape, spec.latent_dim
    if spec.conditioner is not None:
        conditioner = build_component(
            "conditioner", spec.conditioner, registry, data=info, latent_dim=spec.latent_dim
        )
        in_shape, latent_features = conditioner.input_shape, conditioner.latent_features
    encoder = build_component("encoder", spec.encoder, registry, in_shape=tuple(in_shape))
    likelihood = build_component("likelihood", spec.likelihood, registry, data_shape=info.shape)
    out_shape = (likelihood.num_params, *info.shape)
    decoder = build_component(
        "decoder", spec.decoder, registry, in_features=latent_features, out_shape=out_shape
    )
    prior = divergence = None
    if spec.prior is not None:
        prior = build_component("prior", spec.prior, registry, latent_dim=spec.latent_dim)
        divergence = build_component("divergence", spec.divergence, registry)
    if not isinstance(getattr(encoder, "out_features", None), int):
        raise PluginError(f"encoder '{spec.encoder.type}' did not set an int out_features")
    model = LatentVariableModel(
        spec.model, spec.latent_dim, info, encoder, decoder, likelihood, prior, divergence,
        conditioner,
    )  # fmt: skip
    model.spec = spec
    return model


def _check_size(model: LatentVariableModel) -> None:
    """Refuse absurd sizes before anything is allocated, naming the largest section."""
    count = sum(p.numel() for p in model.parameters())
    if count > MAX_PARAMETERS:
        sizes = {
            ("encoder" if name == "head" else name): sum(p.numel() for p in child.parameters())
            for name, child in model.named_children()
        }
        raise SpecError(
            f"the model would have {count:,} parameters ({count * 4 / 2**30:,.0f} GiB), more "
            f"than {MAX_PARAMETERS:,}; reduce the hidden sizes, channels or latent_dim",
            field=max(sizes, key=sizes.__getitem__),
        )


def _dry_run(model: LatentVariableModel, meta: bool) -> bool:
    """Run a batch of 2 through every component; False if a component cannot run on ``meta``.

    Distribution argument checks read tensor values, which meta tensors do not have, so they
    are off during the run.
    """
    validate = Distribution._validate_args
    Distribution.set_default_validate_args(False)
    try:
        _run_components(model, torch.device("meta") if meta else _device_of(model))
    except (RuntimeError, NotImplementedError) as exc:
        if meta and "meta" in str(exc):
            return False
        raise
    finally:
        Distribution.set_default_validate_args(validate)
    return True


def _device_of(model: LatentVariableModel) -> torch.device:
    return next(model.parameters()).device


def _run_components(model: LatentVariableModel, device: torch.device) -> None:
    spec, info = model.spec, model.data_info
    x = torch.zeros(2, *info.shape, device=device)
    y = None
    if model.conditioner is not None:
        y = (
            torch.zeros(2, dtype=torch.long, device=device)
            if info.num_classes is not None
            else torch.zeros(2, info.condition_dim or 0, device=device)
        )
    in_x = model.conditioner.join_input(x, y) if model.conditioner is not None else x
    features = model.encoder(in_x)
    _expect("encoder", spec.encoder.type, features.shape, (2, model.encoder.out_features))
    z = torch.zeros(2, model.latent_dim, device=device)
    params = model.decode(z, y)
    _expect("decoder", spec.decoder.type, params.shape, (2, *model.decoder.out_shape))
    if model.is_variational:
        q = model.posterior(x, y)
        try:
            model.divergence(q, model.prior.distribution(), z)
        except NotImplementedError as exc:
            if "meta" in str(exc):
                raise
            raise SpecError(
                f"'{spec.divergence.type}' has no closed form for this posterior and the "
                f"prior '{spec.prior.type}' ({exc}); use divergence: {{type: mc_kl}}",
                field="divergence.type",
            ) from None
    model(x, y, eps=torch.zeros(2, model.latent_dim, device=device))


def _expect(kind: str, name: str, got: torch.Size, expected: tuple[int, ...]) -> None:
    if tuple(got) != tuple(expected):
        raise PluginError(
            f"{kind} '{name}' returned shape {tuple(got)} for a batch of 2; expected {expected}"
        )
