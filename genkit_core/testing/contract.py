"""``check_component``: build a component and check it keeps its interface's contract.

Plugin authors call it in their tests; it raises :class:`~genkit_core.errors.PluginError` with
one message naming the component, the method and what was wrong (a shape, a dtype, a non-finite
value, a missing gradient), so a broken component fails in its own test suite rather than in a
user's training run.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import torch
from pydantic import ValidationError
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal

from ..errors import PluginError
from ..interfaces import Callback, DataInfo, Params
from ..registry import Component, Registry

__all__ = ["DEFAULT_CONTEXT", "check_component"]

B = 4
"""Examples per test batch."""

_DATA = DataInfo((1, 8, 8), num_classes=10, name="digits", train_size=256)

DEFAULT_CONTEXT: dict[str, dict[str, Any]] = {
    "encoder": {"in_shape": (1, 8, 8)},
    "posterior": {"in_shape": (16,), "latent_dim": 4},
    "decoder": {"in_features": 4, "out_shape": (2, 1, 8, 8)},
    "prior": {"latent_dim": 4},  # bound to a small model of (1, 8, 8) data
    "divergence": {"data": _DATA},
    "objective": {"latent_dim": 4},  # applied to a small model of (1, 8, 8) data
    "likelihood": {"data_shape": (1, 8, 8)},
    "conditioner": {"data": _DATA, "latent_dim": 4},
    "data": {},
    "logger": {},
    "callback": {},
    "metric": {},
    "feature_extractor": {},
}
"""The constructor arguments each kind is checked with, unless ``context`` says otherwise."""


def check_component(
    cls: type,
    params: Mapping[str, Any] | None = None,
    *,
    name: str = "checked",
    context: Mapping[str, Any] | None = None,
    model: Mapping[str, Any] | None = None,
) -> Any:
    """Register, build and exercise a component; return the built instance.

    Checks what the registry checks (an interface subclass with no abstract methods left, a
    pydantic ``Params`` of the right base, a valid spec section and JSON Schema), then runs the
    kind's methods on a small batch: output shapes and dtypes, finite values, and gradients that
    reach every trainable parameter.

    Args:
        cls: the component class.
        params: the spec section without ``type`` (defaults when None).
        name: the name it is registered under in a throwaway registry.
        context: constructor arguments replacing :data:`DEFAULT_CONTEXT` for its kind,
            e.g. ``{"data_shape": (3, 32, 32)}``.
        model: other spec sections of the small model a prior or objective is checked
            inside (:data:`~genkit_core.testing.TINY_SPEC`'s, replaced), e.g.
            ``{"posterior": {"type": "hierarchical"}}`` for a prior that mirrors the
            posterior's layers, ``{"posterior": {"type": "vq"}}`` for a prior over a codebook.

    Raises:
        PluginError: the first broken part of the contract, naming the component.
    """
    registry = Registry()
    component = registry.add(Component(name, cls), plugin="check_component")
    kind = component.kind
    if model and kind not in _IN_A_MODEL:
        raise ValueError(f"model= is for the kinds checked in a model {_IN_A_MODEL}, not {kind}")
    label = f"{kind} '{name}' ({cls.__qualname__})"
    section = registry.spec_model(kind, name)
    try:
        section.model_json_schema()
    except Exception as exc:
        raise PluginError(f"{label}: its Params have no JSON Schema: {exc}") from exc
    try:
        validated = section.model_validate({"type": name, **(params or {})})
    except ValidationError as exc:
        raise PluginError(f"{label}: params {dict(params or {})} are invalid: {exc}") from exc
    arguments = {**DEFAULT_CONTEXT[kind], **(context or {})}
    if kind == "logger":
        arguments.setdefault("run_dir", Path(tempfile.mkdtemp(prefix="genkit-check-")))
    try:
        built = cls(validated, **arguments)
    except Exception as exc:
        raise PluginError(f"{label} failed to build: {type(exc).__name__}: {exc}") from exc
    if kind in _IN_A_MODEL:
        built = _in_a_model(kind, cls, validated, model or {})
    _CHECKS[kind](_Checker(label), built, arguments)
    return built


_IN_A_MODEL = ("prior", "objective")
"""Kinds that work on a whole model: they are checked inside a small one."""


def _in_a_model(kind: str, cls: type, params: Any, sections: Mapping[str, Any]) -> Any:
    """Build a small model of genkit's built-ins (with ``sections`` in place of the tiny
    spec's) around the component; return the component.
    """
    from ..build import build_model  # the model needs the whole core; checks rarely do
    from .checks import fresh_registry, tiny_spec

    registry = fresh_registry()
    name = "checked_component"  # its own name may be a built-in's, already registered
    registry.add(Component(name, cls), plugin="check_component")
    section = {"type": name, **params.model_dump(exclude={"type"})}
    changes: dict[str, Any] = {kind: section}
    if kind == "prior" and getattr(cls, "fitted_after_training", False):
        changes["model"] = "ae"
    spec = tiny_spec(**{**changes, **sections, kind: section})
    try:
        model = build_model(spec, data=_DATA, registry=registry)
    except PluginError:
        raise
    except Exception as exc:
        raise PluginError(
            f"{kind} '{name}' ({cls.__qualname__}) does not work in a model: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    component = getattr(model, kind)
    component.checked_model = _Held(model)
    return component


class _Held:
    """Holds the model a component was checked in without making it a submodule."""

    def __init__(self, model: Any):
        self.model = model


class _Checker:
    """Assertions that raise a PluginError naming the component."""

    def __init__(self, label: str):
        self.label = label

    def fail(self, message: str) -> NoReturn:
        raise PluginError(f"{self.label}: {message}")

    def tensor(self, what: str, value: Any, shape: tuple[int, ...]) -> Tensor:
        if not isinstance(value, Tensor):
            self.fail(f"{what} returned {type(value).__name__}, expected a tensor")
        if tuple(value.shape) != tuple(shape):
            self.fail(f"{what} returned shape {tuple(value.shape)}, expected {tuple(shape)}")
        if not value.is_floating_point():
            self.fail(f"{what} returned dtype {value.dtype}, expected a floating-point tensor")
        if not torch.isfinite(value).all():
            self.fail(f"{what} returned non-finite values")
        return value

    def gradients(self, what: str, loss: Tensor, module: nn.Module, *inputs: Tensor) -> None:
        """Backpropagate ``loss``; every input and trainable parameter must get a finite grad."""
        if not loss.requires_grad:
            self.fail(f"{what}: its output is detached from the inputs and parameters")
        loss.backward()  # type: ignore[no-untyped-call]  # torch leaves Tensor.backward unannotated
        for i, x in enumerate(inputs):
            if x.grad is None or not torch.isfinite(x.grad).all():
                self.fail(f"{what}: no finite gradient reaches input {i}")
        for pname, p in module.named_parameters():
            if p.requires_grad and (p.grad is None or not torch.isfinite(p.grad).all()):
                self.fail(f"{what}: no finite gradient reaches parameter '{pname}'")


def _encoder(check: _Checker, enc: Any, ctx: dict[str, Any]) -> None:
    if not isinstance(getattr(enc, "out_features", None), int) or enc.out_features <= 0:
        check.fail("__init__ must set self.out_features to a positive int")
    if math.prod(enc.out_shape) != enc.out_features:
        check.fail(f"out_shape {enc.out_shape} does not hold out_features {enc.out_features}")
    x = torch.randn(B, *ctx["in_shape"], requires_grad=True)
    out = check.tensor("forward(x)", enc(x), (B, *enc.out_shape))
    check.gradients("forward(x)", out.square().sum(), enc, x)


def _decoder(check: _Checker, dec: Any, ctx: dict[str, Any]) -> None:
    z = torch.randn(B, *dec.in_shape, requires_grad=True)
    out = check.tensor("forward(z)", dec(z), (B, *ctx["out_shape"]))
    check.gradients("forward(z)", out.square().sum(), dec, z)


def _likelihood(check: _Checker, lik: Any, ctx: dict[str, Any]) -> None:
    shape = tuple(ctx["data_shape"])
    if not isinstance(lik.num_params, int) or lik.num_params <= 0:
        check.fail(f"num_params must be a positive int, got {lik.num_params!r}")
    out = torch.randn(B, lik.num_params, *shape, requires_grad=True)
    x = torch.rand(B, *shape)
    error = lik.support_error(x)
    if error is not None and not isinstance(error, str):
        check.fail(f"support_error(x) must return a str or None, got {error!r}")
    if error is None:
        log_prob = check.tensor("log_prob(x, params)", lik.log_prob(x, out), (B,))
        check.gradients("log_prob(x, params)", -log_prob.sum(), lik, out)
    with torch.no_grad():
        check.tensor("mean(params)", lik.mean(out), (B, *shape))
        check.tensor("sample(params)", lik.sample(out), (B, *shape))


def _posterior(check: _Checker, post: Any, ctx: dict[str, Any]) -> None:
    features = torch.randn(B, *ctx["in_shape"], requires_grad=True)
    q = post(features)
    if not isinstance(q, Distribution):
        check.fail(f"forward(features) returned {type(q).__name__}, not a torch Distribution")
    latent, noise_shape = tuple(post.latent_shape), tuple(post.noise_shape)
    for lead in ((B,), (3, B)):
        draw = post.sample(q, torch.randn(*lead, *noise_shape))
        z = check.tensor(f"sample(q, noise {lead}).z", draw.z, (*lead, *latent))
        log_q = check.tensor(f"sample(q, noise {lead}).log_q", draw.log_q, lead)
        if tuple(draw.terms) != tuple(post.terms):
            check.fail(f"sample() returned the terms {tuple(draw.terms)}, declared {post.terms}")
        for term, value in draw.terms.items():
            check.tensor(f"sample(q, noise).terms['{term}']", value, lead)
    check.tensor("code(q)", post.code(q), (B, *latent))
    extra = sum((v.sum() for v in draw.terms.values()), torch.zeros(()))
    check.gradients("sample(q, noise)", z.square().sum() + log_q.sum() + extra, post, features)


def _prior(check: _Checker, prior: Any, ctx: dict[str, Any]) -> None:
    L = ctx["latent_dim"]
    model = prior.checked_model.model
    if prior.fitted_after_training:
        prior.fit(torch.randn(32, L))
    dist = prior.distribution()
    if not isinstance(dist, Distribution):
        check.fail(f"distribution() returned {type(dist).__name__}, not a torch Distribution")
    latent = tuple(model.posterior.latent_shape)
    if tuple(dist.event_shape) != latent or tuple(dist.batch_shape) != ():
        check.fail(
            f"distribution() has batch shape {tuple(dist.batch_shape)} and event shape "
            f"{tuple(dist.event_shape)}; expected () and {latent}"
        )
    z = check.tensor("sample(n)", prior.sample(B), (B, *latent))
    log_prob = check.tensor("log_prob(z)", prior.log_prob(z), (B,))
    check.tensor("log_prob(z) of (3, B) latents", prior.log_prob(z.expand(3, *z.shape)), (3, B))
    if any(p.requires_grad for p in prior.parameters()) and not prior.fitted_after_training:
        check.gradients("log_prob(z)", -log_prob.sum(), prior)


def _divergence(check: _Checker, div: Any, ctx: dict[str, Any]) -> None:
    L = DEFAULT_CONTEXT["prior"]["latent_dim"]
    loc = torch.randn(B, L, requires_grad=True)
    q = Independent(Normal(loc, torch.full((B, L), 0.5)), 1)
    p = Independent(Normal(torch.zeros(L), torch.ones(L)), 1)
    z = q.rsample()
    log_q = q.log_prob(z)  # type: ignore[no-untyped-call]  # torch leaves Independent's unannotated
    d = check.tensor("forward(q, p, z, log_q)", div(q, p, z, log_q), (B,))
    per_dim = div.per_dimension(q, p, z.detach(), log_q.detach())
    if per_dim is not None:
        check.tensor("per_dimension(q, p, z, log_q)", per_dim, (B, L))
    penalty = div.penalty(q, p, z.detach(), log_q.detach())
    if tuple(penalty.parts) != tuple(div.parts):
        check.fail(f"penalty() returned the parts {tuple(penalty.parts)}, declared {div.parts}")
    check.tensor("penalty().loss", penalty.loss.reshape(()), ())
    check.gradients("forward(q, p, z, log_q)", d.sum(), div, loc)


def _objective(check: _Checker, objective: Any, ctx: dict[str, Any]) -> None:
    model = objective.checked_model.model
    x = torch.rand(B, *model.data_info.shape)
    noise = torch.randn(B, *model.noise_shape)
    out = model(x, None, noise, torch.zeros((), dtype=torch.long))
    if tuple(out.losses) != tuple(objective.groups):
        check.fail(f"forward() returned losses for {tuple(out.losses)}, groups {objective.groups}")
    if tuple(out.terms) != tuple(objective.term_names(model)):
        check.fail(f"forward() returned the terms {tuple(out.terms)}, declared {model.terms}")
    for term, value in out.terms.items():
        check.tensor(f"forward().terms['{term}']", value, (B,))
    groups = objective.parameter_groups(model)
    for group, loss in out.losses.items():
        check.tensor(f"forward().losses['{group}']", loss.reshape(()), ())
        grads = torch.autograd.grad(loss, groups[group], retain_graph=True, allow_unused=True)
        if all(g is None for g in grads):
            check.fail(f"the '{group}' loss does not reach any parameter of its group")


def _conditioner(check: _Checker, cond: Any, ctx: dict[str, Any]) -> None:
    info: DataInfo = ctx["data"]
    x = torch.rand(B, *info.shape)
    if info.num_classes is not None:
        y = torch.arange(B) % info.num_classes
    else:
        y = torch.randn(B, info.condition_dim or 1)
    check.tensor("join_input(x, y)", cond.join_input(x, y), (B, *cond.input_shape))
    z = torch.randn(B, ctx["latent_dim"])
    check.tensor("join_latent(z, y)", cond.join_latent(z, y), (B, cond.latent_features))


def _data(check: _Checker, source: Any, ctx: dict[str, Any]) -> None:
    info = source.describe()
    if not isinstance(info, DataInfo):
        check.fail(f"describe() returned {type(info).__name__}, not a DataInfo")
    bundle = source.load()
    if tuple(bundle.info.shape) != tuple(info.shape):
        check.fail(f"load() gives shape {bundle.info.shape} but describe() says {info.shape}")
    for split in ("train", "test"):
        if len(getattr(bundle, split)) == 0:
            check.fail(f"load() returned an empty {split} split")


def _logger(check: _Checker, logger: Any, ctx: dict[str, Any]) -> None:
    logger.start({"model": "vae"}, None)
    logger.log({"epoch": 1, "step": 1, "train_loss": 1.0, "test_loss": 2.0}, 1)
    logger.close("finished")


def _callback(check: _Checker, callback: Any, ctx: dict[str, Any]) -> None:
    """Train the tiny model with the callback twice, once stopped as by Ctrl-C after step 6
    and resumed from its checkpoint with a new instance: the weights, the epoch rows and the
    callback's state must end as in the uninterrupted run (3 epochs of 4 steps).
    """
    from ..record import read_history  # training needs the whole core; checks rarely do
    from ..training import Trainer, TrainingInterrupted
    from ..training.state import flatten
    from .checks import tiny_spec

    try:
        flatten(callback.state_dict(), "callback")
    except TypeError as exc:
        check.fail(f"state_dict() holds what a checkpoint cannot: {exc}")
    cls, params = type(callback), callback.params
    spec = tiny_spec(callbacks=[], train={**tiny_spec()["train"], "epochs": 3})
    root = Path(tempfile.mkdtemp(prefix="genkit-check-"))
    whole, resumed = cls(params), cls(params)
    Trainer(spec, root / "whole", stream=None, callbacks=[whole]).fit()
    try:
        Trainer(spec, root / "resumed", stream=None, callbacks=[cls(params), _CtrlC(6)]).fit()
        check.fail("a run stopped as by Ctrl-C at step 6 went on")
    except TrainingInterrupted:
        pass
    Trainer(None, root / "resumed", resume=True, stream=None, callbacks=[resumed]).fit()
    ends = []
    for run, instance in ((root / "whole", whole), (root / "resumed", resumed)):
        rows = read_history(run)
        rows.pop("seconds", None)
        ends.append((_weights(run), rows, flatten(instance.state_dict(), "callback")))
    (w0, r0, (t0, s0)), (w1, r1, (t1, s1)) = ends
    if any(not torch.equal(w0[k], w1[k]) for k in w0):
        check.fail("a run resumed after Ctrl-C ends with other weights than an uninterrupted one")
    if r0 != r1:
        check.fail("a run resumed after Ctrl-C records other epoch rows than an uninterrupted one")
    if s0 != s1 or t0.keys() != t1.keys() or any(not torch.equal(t0[k], t1[k]) for k in t0):
        check.fail("its state_dict() after a resumed run differs from an uninterrupted run's")


def _weights(run: Path) -> dict[str, Tensor]:
    from ..files import read_tensors

    return read_tensors(run / "model.safetensors")[0]


class _CtrlC(Callback):
    """Asks the run to stop after ``step`` steps, as the first Ctrl-C does."""

    def __init__(self, step: int):
        super().__init__(Params())
        self.step = step

    def on_step_end(self, run: Any, step: int) -> None:
        if step == self.step:
            run.signals.requested = True


def _metric(check: _Checker, metric: Any, ctx: dict[str, Any]) -> None:
    from ..build import build_model
    from ..interfaces import MetricData
    from .checks import tiny_spec
    from .factor_images import FactorImages

    for flag in ("needs_factors", "higher_is_better"):
        if not isinstance(getattr(metric, flag), bool):
            check.fail(f"{flag} must be True or False, got {getattr(metric, flag)!r}")
    if not all(isinstance(s, str) for s in metric.scores):
        check.fail(f"scores must be a tuple of score names, got {metric.scores!r}")
    model = build_model(tiny_spec(latent_dim=4), data=_DATA).eval()
    source = FactorImages(FactorImages.Params())
    data = MetricData("factor_images", source.load, source)
    scores = metric(model, data, np.random.default_rng(0))
    if not isinstance(scores, dict) or not all(isinstance(k, str) for k in scores):
        check.fail(f"__call__ returned {scores!r:.80}, expected a dict of score names and numbers")
    for name, value in scores.items():
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
        ):
            check.fail(f"__call__ returned {name}={value!r}, expected a finite number")
    if metric.scores and set(scores) != set(metric.scores):
        check.fail(f"__call__ returned the scores {sorted(scores)}, not {list(metric.scores)}")


def _feature_extractor(check: _Checker, extractor: Any, ctx: dict[str, Any]) -> None:
    """Prepared on small labelled (1, 8, 8) images: ``(B, F)`` finite features, the same for an
    image whichever batch it is in.
    """
    from ..interfaces import DataBundle, MetricData, Split

    generator = torch.Generator().manual_seed(0)
    x = torch.rand(64, *_DATA.shape, generator=generator)
    y = torch.arange(64) % 10
    bundle = DataBundle(Split(x[:48], y[:48]), Split(x[48:], y[48:]), _DATA)
    extractor.prepare(MetricData("digits", lambda: bundle))
    images = x[:B]
    features = extractor(images)
    if not isinstance(features, Tensor) or features.dim() != 2 or len(features) != B:
        check.fail(f"__call__ returned {_shape(features)} for {B} images, expected (B, F)")
    if not torch.isfinite(features).all():
        check.fail("__call__ returned non-finite features")
    alone = extractor(images[:1])
    if not torch.allclose(alone, features[:1], rtol=1e-4, atol=1e-5):
        check.fail("__call__ gave an image other features alone than in a batch")


def _shape(value: Any) -> str:
    return str(tuple(value.shape)) if isinstance(value, Tensor) else type(value).__name__


_CHECKS: dict[str, Callable[[_Checker, Any, dict[str, Any]], None]] = {
    "encoder": _encoder,
    "posterior": _posterior,
    "objective": _objective,
    "decoder": _decoder,
    "likelihood": _likelihood,
    "prior": _prior,
    "divergence": _divergence,
    "conditioner": _conditioner,
    "data": _data,
    "logger": _logger,
    "callback": _callback,
    "metric": _metric,
    "feature_extractor": _feature_extractor,
}
