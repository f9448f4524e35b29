"""What the sample-quality metrics share: the images they compare, drawn and read the same way,
and the feature extractor they compare them in.

Each metric compares ``n`` images drawn from the model's prior, or from a prior fitted to the
run afterwards (``prior: NAME``, kept as ``<metric>@NAME``; the likelihood's mean at each
draw) with ``n`` test images, and reports beside it the floor: the same comparison of ``n``
training images with those test images, what a model that reproduced the data would score.
Images are compared as the data's grey values: a run trained on binarised images is compared
with the images before binarisation, as its draws (the likelihood's means) are grey too.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, NamedTuple

import numpy as np
import torch
from pydantic import BaseModel, Field, field_validator
from torch import Tensor

from genkit_core import (
    DataBundle,
    DataError,
    FeatureExtractor,
    LatentVariableModel,
    Metric,
    MetricData,
    MetricParams,
    Prior,
    RunError,
    SpecError,
    build_component,
)
from genkit_core.components import component_spec
from genkit_core.fitted_priors import check_prior_name, load_fitted_prior, prior_in_place
from genkit_core.images import as_images
from genkit_core.interfaces import Split

__all__ = [
    "QualityParams",
    "SampleQualityMetric",
    "SampleSets",
    "check_can_draw",
    "check_prior",
    "default_features",
    "draw_images",
    "fitted_prior",
]

DEFAULT_FEATURES: dict[tuple[int, ...], dict[str, Any]] = {
    (1, 28, 28): {"type": "digit_classifier"},
    (1, 8, 8): {"type": "digit_classifier"},
}
"""The feature extractor of each image shape that has a default (MNIST's, digits')."""


class QualityParams(MetricParams):
    """The images compared and the space they are compared in."""

    n: Annotated[int, Field(gt=1, le=1_000_000)] = Field(
        10_000,
        description="Generated, test and training images compared, each (at most the size of "
        "the smaller split).",
    )
    features: str | dict[str, Any] | None = Field(
        None,
        description="The feature extractor, its name or spec, e.g. pixels or {type: inception, "
        "path: WEIGHTS}; by default digit_classifier for 1x28x28 and 1x8x8 images.",
    )

    @field_validator("features", mode="before")
    @classmethod
    def _name_or_mapping(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, str | dict):
            raise ValueError(
                f"expected a feature extractor's name or a mapping with its type, e.g. pixels "
                f"or {{type: digit_classifier}}, got {value!r:.60}"
            )
        return value

    prior: str | None = Field(
        None,
        description="The prior the images are drawn from: a name under RUN/priors/ (genkit "
        "fit-prior); the run's own when not given. Its scores are kept as <metric>@<name>.",
    )
    batch_size: Annotated[int, Field(gt=0, le=1_000_000)] = Field(
        500, description="Images drawn, and passed through the extractor, at a time."
    )


class SampleSets(NamedTuple):
    """The ``(n, F)`` float64 features of each set a metric compares.

    Attributes:
        generated: of the model's draws.
        test: of test images (the reference).
        train: of training images (the floor: they against the test images).
        reconstructions: of the model's reconstructions of those test images (None unless
            asked for).
    """

    generated: np.ndarray
    test: np.ndarray
    train: np.ndarray
    reconstructions: np.ndarray | None


def draw_images(
    model: LatentVariableModel,
    n: int,
    random_state: np.random.Generator,
    prior: Prior | None = None,
    batch_size: int = 500,
) -> Tensor:
    """``(n, *data_shape)`` draws of the model: the likelihood's mean at ``n`` draws of its
    prior, or of ``prior`` (one fitted to the run afterwards, :func:`fitted_prior`), a cvae of
    classes cycling them, under a torch seed taken from ``random_state``.

    Raises:
        RunError: the model has no prior to draw from, or is a cvae conditioned on vectors.
    """
    check_can_draw(model, prior)
    seed = int(random_state.integers(2**63))
    device = next(model.parameters()).device
    chunks = torch.split(torch.arange(n), batch_size)
    drawn = prior if prior is not None else model.prior
    assert drawn is not None  # check_can_draw refuses a model without one
    devices = [device] if device.type == "cuda" else []
    with prior_in_place(model, drawn), torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(seed)
        return torch.cat([model.sample(len(c)) for c in chunks])


def check_can_draw(model: LatentVariableModel, prior: Prior | None = None) -> None:
    """Refuse, before any work, a model :func:`draw_images` cannot draw from.

    Raises:
        RunError: the model has no prior (and none is given), or is a cvae conditioned on
            vectors.
    """
    if prior is None and not model.can_sample:
        raise RunError(
            "this run has no prior to draw images from (an autoencoder without a prior fitted "
            "after training); train it with prior: {type: code_gaussian}, fit one with genkit "
            "fit-prior and name it in the metric's prior, or train it as a vae"
        )
    if model.conditioner is not None and model.data_info.num_classes is None:
        raise RunError(
            "this cvae is conditioned on vectors, and there is no condition to draw each image "
            "with; the sample-quality metrics draw from vaes and cvaes of classes"
        )


def check_prior(prior: str | None) -> None:
    """Refuse a prior name that cannot name a directory under ``RUN/priors/``.

    Raises:
        SpecError: the name is unsafe (a slash, ``..``, too long).
    """
    if prior is not None:
        try:
            check_prior_name(prior)
        except RunError as exc:
            raise SpecError(str(exc), field="prior") from None


def fitted_prior(model: LatentVariableModel, data: MetricData, name: str | None) -> Prior | None:
    """The prior fitted to the run as ``name`` (None: the run's own, returned as None).

    Raises:
        RunError: the model is not measured in a run directory, or no prior is fitted under
            that name (the message lists those that are), or its files are damaged.
    """
    if name is None:
        return None
    if data.run_dir is None:
        raise RunError(
            f"prior '{name}' is fitted to a run, and this model is measured outside one; "
            "use genkit eval RUN, or leave prior out"
        )
    return load_fitted_prior(model, data.run_dir, name)


def default_features(shape: tuple[int, ...], metric: str) -> dict[str, Any]:
    """The feature extractor's spec for data of this example shape.

    Raises:
        SpecError: the shape has no default: the user names one.
    """
    image = _image_shape(shape)
    if image in DEFAULT_FEATURES:
        return DEFAULT_FEATURES[image]
    raise SpecError(
        f"no default feature extractor for examples of shape {shape}; name one, e.g. --metric "
        f"'{{type: {metric}, features: {{type: inception, path: WEIGHTS}}}}' (or type: pixels)",
        field="features",
    )


def _image_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    if len(shape) == 1 and math.isqrt(shape[0]) ** 2 == shape[0]:
        return (1, math.isqrt(shape[0]), math.isqrt(shape[0]))
    return shape


class SampleQualityMetric(Metric):
    """A metric of the model's draws against test images, in a feature extractor's space;
    :meth:`sample_sets` gives a subclass the features of every set it compares.
    """

    Params = QualityParams
    params: QualityParams

    @classmethod
    def key(cls, params: BaseModel) -> str:
        """``fd`` for the run's own prior, ``fd@NAME`` for the prior fitted as NAME."""
        prior = getattr(params, "prior", None)
        return f"{params.type}@{prior}" if prior else str(params.type)  # type: ignore[attr-defined]

    def __init__(self, params: BaseModel):
        super().__init__(params)
        check_prior(self.params.prior)  # before any work
        named = self.params.features
        self.features_spec = None if named is None else component_spec(
            "feature_extractor", named, field="features", example="{type: digit_classifier}"
        )  # fmt: skip

    def sample_sets(
        self,
        model: LatentVariableModel,
        data: MetricData,
        random_state: np.random.Generator,
        reconstruct: bool = False,
    ) -> SampleSets:
        """Draw and read ``n`` images each (and, with ``reconstruct``, reconstruct the test
        images) and turn them into features.
        """
        p = self.params
        shape = model.data_info.shape
        if as_images(torch.zeros(1, *shape), shape) is None:
            raise DataError(f"{p.type} compares images, and data '{data.name}' has examples "  # type: ignore[attr-defined]
                            f"of shape {shape}")  # fmt: skip
        spec = self.features_spec or default_features(shape, p.type)  # type: ignore[attr-defined]
        prior = fitted_prior(model, data, p.prior)
        check_can_draw(model, prior)  # before the extractor trains
        grey = _grey(model, data)
        extractor: FeatureExtractor = build_component("feature_extractor", _validated(spec))
        extractor.prepare(grey)
        test, labels, train = _reference(grey.bundle, p.n, random_state)
        device = next(model.parameters()).device
        generated = draw_images(model, len(test), random_state, prior, p.batch_size)
        rec = [
            model.reconstruct(x.to(device), None if y is None else y.to(device))
            for x, y in _batches(test, labels if model.conditioner else None, p.batch_size)
            if reconstruct
        ]

        def features(x: Tensor, what: str) -> np.ndarray:
            return _features(extractor, x, shape, p.batch_size, device, what)

        return SampleSets(
            features(generated, "the model's draws"), features(test, "test images"),
            features(train, "training images"),
            features(torch.cat(rec), "reconstructions") if reconstruct else None,
        )  # fmt: skip


def _validated(spec: Any) -> BaseModel:
    return spec if isinstance(spec, BaseModel) else component_spec("feature_extractor", spec)


def _grey(model: LatentVariableModel, data: MetricData) -> MetricData:
    """The run's data before binarisation (its draws are grey likelihood means)."""
    spec = model.spec
    if spec is None or spec.data.binarize == "none":
        return data
    from genkit_core.data import load_data

    grey = spec.model_copy(update={"data": spec.data.model_copy(update={"binarize": "none"})})
    return MetricData(data.name, lambda: load_data(grey), data.factors)


def _reference(
    bundle: DataBundle, n: int, random_state: np.random.Generator
) -> tuple[Tensor, Tensor | None, Tensor]:
    """``n`` test examples and their labels, and ``n`` training examples, drawn without
    replacement (``n`` at most the smaller split's size).
    """
    n = min(n, len(bundle.test), len(bundle.train))
    at_test = np.sort(random_state.choice(len(bundle.test), n, replace=False))
    at_train = np.sort(random_state.choice(len(bundle.train), n, replace=False))
    test, labels = _rows(bundle.test, at_test)
    return test, labels, _rows(bundle.train, at_train)[0]


def _rows(split: Split, at: np.ndarray) -> tuple[Tensor, Tensor | None]:
    from genkit_core.data import as_float

    if isinstance(split.x, Tensor | np.ndarray):
        x = torch.as_tensor(np.asarray(split.x[at]))
        y = None if split.y is None else torch.as_tensor(np.asarray(split.y)[at])
    else:  # a Dataset of (x, y) items
        items = [split.x[int(i)] for i in at]
        x = torch.stack([torch.as_tensor(item[0]) for item in items])
        y = None
    return as_float(x), y


def _batches(x: Tensor, y: Tensor | None, size: int) -> list[tuple[Tensor, Tensor | None]]:
    ys = [None] * math.ceil(len(x) / size) if y is None else list(torch.split(y, size))
    return list(zip(torch.split(x, size), ys, strict=True))


def _features(
    extractor: FeatureExtractor,
    x: Tensor,
    shape: tuple[int, ...],
    batch_size: int,
    device: torch.device,
    what: str,
) -> np.ndarray:
    """``(N, F)`` float64 features of examples ``(N, *shape)``.

    Raises:
        RunError: the examples or their features are not finite.
    """
    out = []
    for batch in torch.split(x, batch_size):
        if not torch.isfinite(batch).all():
            raise RunError(f"{what} hold non-finite values (NaN or inf); check the model")
        images = as_images(batch, shape)
        assert images is not None  # checked in sample_sets
        out.append(extractor(images.to(device)).detach().double().cpu().reshape(len(batch), -1))
    features = torch.cat(out).numpy()
    if not np.isfinite(features).all():
        raise RunError(f"the feature extractor gave non-finite features of {what}")
    return features
