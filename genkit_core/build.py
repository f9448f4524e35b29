"""``build_model``: compose a :class:`LatentVariableModel` from a spec, by component names alone.

The model is first built on PyTorch's ``meta`` device (no memory, no compute) and run once on a
tiny batch, so shape mismatches, components that do not fit each other and absurd sizes are
caught as spec errors before anything real is allocated. Components may settle ``auto`` options
on that first run (``gaussian_kl`` picks its estimator); the spec the model keeps, and a run
saves, records what they settled on.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

import torch
from torch.distributions import Distribution

from .components import build_component
from .data.loading import describe_data
from .errors import PluginError, SpecError
from .interfaces import DataInfo, Decoder
from .model import LatentVariableModel
from .registry import Registry, get_registry
from .spec import MODEL_KINDS, SECTIONS, ModelSpec, load_spec

__all__ = ["MAX_PARAMETERS", "build_component", "build_model"]

MAX_PARAMETERS = 2_000_000_000
"""Specs whose model would exceed this many parameters are refused before allocation."""


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
    if MODEL_KINDS[spec.model].labelled and not info.labelled:
        raise SpecError(
            f"a {spec.model} needs labelled data, and '{info.name}' has no labels; "
            "use labelled data or set model: vae",
            field="data",
        )
    with torch.device("meta"):
        checked = _compose(spec, info, registry)
    _check_size(checked)
    ran = _dry_run(checked, meta=True)
    spec = _settled(checked)
    if torch.device(device or "cpu").type == "meta":
        return checked
    with torch.device(device or "cpu"):
        model = _compose(spec, info, registry)
    if not ran:  # a component cannot run on the meta device: check the real model instead
        with torch.no_grad():
            _dry_run(model, meta=False)
        model.spec = _settled(model)
    return model


def _compose(spec: ModelSpec, info: DataInfo, registry: Registry) -> LatentVariableModel:
    conditioner = None
    in_shape = info.shape
    if spec.conditioner is not None:
        conditioner = build_component(
            "conditioner", spec.conditioner, registry, data=info, latent_dim=spec.latent_dim
        )
        in_shape = conditioner.input_shape
    encoder = build_component("encoder", spec.encoder, registry, in_shape=tuple(in_shape))
    _check_encoder(encoder, spec.encoder.type)
    posterior = build_component(
        "posterior", spec.posterior, registry,
        in_shape=encoder.out_shape, latent_dim=spec.latent_dim,
    )  # fmt: skip
    decoder_shape = tuple(posterior.decoder_shape)
    if conditioner is not None:
        if decoder_shape != (spec.latent_dim,):
            raise SpecError(
                f"a cvae joins its condition to a flat latent of latent_dim, and the "
                f"'{spec.posterior.type}' posterior gives the decoder {posterior.decoder_shape}",
                field="posterior.type",
            )
        decoder_shape = (conditioner.latent_features,)
    likelihood = build_component("likelihood", spec.likelihood, registry, data_shape=info.shape)
    decoder_context: dict[str, Any] = {
        "in_features": math.prod(decoder_shape),
        "out_shape": (likelihood.num_params, *info.shape),
    }
    if cast("type[Decoder]", registry.get("decoder", spec.decoder.type).cls).shaped_input:
        decoder_context["in_shape"] = decoder_shape
    decoder = build_component("decoder", spec.decoder, registry, **decoder_context)
    prior = divergence = None
    if spec.prior is not None:
        prior = build_component("prior", spec.prior, registry, latent_dim=spec.latent_dim)
    if spec.divergence is not None:
        divergence = build_component("divergence", spec.divergence, registry, data=info)
    objective = build_component("objective", spec.objective, registry, latent_dim=spec.latent_dim)
    model = LatentVariableModel(
        spec.model, spec.latent_dim, info, encoder, posterior, decoder, likelihood, objective,
        prior, divergence, conditioner, spec,
    )  # fmt: skip
    _check_fit(model, spec)
    return model


def _check_encoder(encoder: Any, name: str) -> None:
    """An encoder must say how many features it gives, and its ``out_shape`` must hold them."""
    features = getattr(encoder, "out_features", None)
    if not isinstance(features, int):
        raise PluginError(f"encoder '{name}' did not set an int out_features")
    if math.prod(encoder.out_shape) != features:
        raise PluginError(
            f"encoder '{name}' set out_shape {encoder.out_shape}, which holds "
            f"{math.prod(encoder.out_shape)} features, and out_features {features}"
        )


def _check_fit(model: LatentVariableModel, spec: ModelSpec) -> None:
    """Refuse components that each work but not together, naming the section to change."""
    posterior, prior, divergence = model.posterior, model.prior, model.divergence
    if divergence is not None and divergence.is_kl and not posterior.stochastic:
        raise SpecError(
            f"the '{spec.divergence.type}' divergence is a KL, and the '{spec.posterior.type}' "
            "posterior is a point mass with no density; use divergence: {type: mmd} (a "
            "Wasserstein autoencoder) or a stochastic posterior",
            field="divergence.type",
        )
    if prior is not None and prior.fitted_after_training and divergence is not None:
        raise SpecError(
            f"the '{spec.prior.type}' prior is fitted to the codes after training, so no "
            "divergence can train towards it; remove the divergence or use a model prior",
            field="prior.type",
        )
    unused = divergence is None and not posterior.stochastic
    if prior is not None and unused and not prior.fitted_after_training:
        raise SpecError(
            f"the '{spec.prior.type}' prior takes no part in an autoencoder's loss; use a "
            "prior fitted after training (code_gaussian) or add a divergence (mmd)",
            field="prior.type",
        )
    if prior is not None:
        prior.check(model)
    model.objective.check(model)


def _settled(model: LatentVariableModel) -> ModelSpec:
    """The model's spec with each component's parameters as the component now holds them."""
    spec = model.spec
    assert spec is not None
    changed = {
        section: component.params
        for section in SECTIONS
        if (component := getattr(model, section, None)) is not None
        and getattr(component, "params", None) is not getattr(spec, section)
    }
    if not changed:
        return spec
    settled = spec.model_copy(update=changed)
    model.spec = settled
    return settled


def _check_size(model: LatentVariableModel) -> None:
    """Refuse absurd sizes before anything is allocated, naming the largest section."""
    count = sum(p.numel() for p in model.parameters())
    if count > MAX_PARAMETERS:
        sizes = {name: sum(p.numel() for p in child.parameters()) for name, child in
                 model.named_children()}  # fmt: skip
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
    assert spec is not None
    x = torch.zeros(2, *info.shape, device=device)
    y = None
    if model.conditioner is not None:
        y = (
            torch.zeros(2, dtype=torch.long, device=device)
            if info.num_classes is not None
            else torch.zeros(2, info.condition_dim or 0, device=device)
        )
    features = model.features(x, y)
    _expect("encoder", spec.encoder.type, features.shape, (2, *model.encoder.out_shape))
    z = torch.zeros(2, *model.posterior.latent_shape, device=device)
    params = model.decode(z, y)
    _expect("decoder", spec.decoder.type, params.shape, (2, *model.decoder.out_shape))
    noise = torch.zeros(2, *model.noise_shape, device=device)
    try:
        out = model(x, y, noise)
    except NotImplementedError as exc:
        if "meta" in str(exc):
            raise
        raise SpecError(
            f"the divergence '{spec.divergence.type}' cannot compare this posterior and the "
            f"prior '{spec.prior.type}' ({exc}); use estimator: auto (gaussian_kl estimates "
            "by Monte Carlo where there is no closed form) or divergence: {type: mc_kl}",
            field="divergence.type",
        ) from None
    if model.is_variational and model.divergence is not None:  # every divergence settles here
        q = model.posterior_of(x, y)
        draw = model.posterior.sample(q, noise[:, 0])
        model.divergence(q, model.prior.distribution(), draw.z, draw.log_q)  # type: ignore[union-attr]
    if tuple(out.terms) != model.terms:
        raise PluginError(
            f"objective '{spec.objective.type}' returned the terms {tuple(out.terms)}, "
            f"but declared {model.terms}"
        )
    groups = model.objective.groups
    if tuple(out.losses) != groups:
        raise PluginError(
            f"objective '{spec.objective.type}' returned losses for {tuple(out.losses)}, "
            f"but declared the groups {groups}"
        )


def _expect(kind: str, name: str, got: torch.Size, expected: tuple[int, ...]) -> None:
    if tuple(got) != tuple(expected):
        raise PluginError(
            f"{kind} '{name}' returned shape {tuple(got)} for a batch of 2; expected {expected}"
        )
