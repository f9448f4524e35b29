"""check_component: passes every built-in, and names what a broken component gets wrong."""

from __future__ import annotations

import pytest
import torch
from pydantic import BaseModel
from torch import Tensor, nn

from genkit_core import Encoder, FeatureExtractor, Likelihood, Params, PluginError, get_registry
from genkit_core.testing import check_component
from genkit_plugins.likelihoods.bernoulli import Bernoulli
from genkit_plugins.networks.mlp import MLPEncoder

NEEDS_FILES = {"mnist", "fashion_mnist", "cifar10", "tensor_file", "image_folder"}
"""Sources that read files: tests/genkit_plugins/data/ checks them on tiny files of their own."""

MODELS = {
    ("prior", "code_pixelcnn"): {"posterior": {"type": "vq", "codes": 8}},
    ("objective", "rae"): {"model": "ae"},
}
"""Built-ins that only work in a model of their own kind (a prior over a codebook's indices,
an autoencoder's objective)."""


FEW_DRAWS = {
    "mig": {"num_train": 200},
    "dci": {"num_train": 200, "num_test": 100},
    "sap": {"num_train": 200, "num_test": 100},
    "beta_vae_score": {"batch_size": 8, "num_train": 40, "num_eval": 20},
    "factor_vae_score": {"batch_size": 8, "num_train": 40, "num_eval": 20,
                         "num_variance_estimate": 200},
    "fd": {"n": 40, "features": {"type": "pixels"}},
    "precision_recall": {"n": 40, "features": {"type": "pixels"}},
}  # fmt: skip
"""A metric's contract holds on a few draws; its defaults (disentanglement_lib's) take minutes.
The sample-quality metrics compare pixels: the check's data has no labels to train a
classifier on."""

FEATURE_PARAMS = {"digit_classifier": {"steps": 5, "cache": False}}
"""A feature extractor's contract holds after a few steps of training."""

NEEDS_WEIGHTS = {"inception"}
"""Extractors that read weights from a file: tests/genkit_plugins/features/ checks them on a
file of their own."""

SHORT_FITS = {
    "code_maf": {"epochs": 1, "transforms": 2, "hidden_features": [16]},
    "code_vae": {"epochs": 1, "hidden": 16},
    "code_diffusion": {"epochs": 1, "hidden": 16, "steps": 50, "sample_steps": 10},
}
"""A sampler fitted after training keeps its contract after one short fit; its defaults are
sized for 60,000 codes (seconds each here, 17 s for code_diffusion's 1,000 steps)."""


@pytest.mark.parametrize(
    "component",
    [pytest.param(c, id=f"{c.kind}-{c.name}") for c in get_registry().components()
     if c.plugin == "builtins" and not (c.kind == "data" and c.name in NEEDS_FILES)
     and not (c.kind == "feature_extractor" and c.name in NEEDS_WEIGHTS)],
)  # fmt: skip
def test_every_builtin_keeps_its_contract(component, tmp_path, monkeypatch):
    if component.kind == "logger":  # MLflow's default store is in the working directory
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
        monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # a sqlite store takes seconds
    model = MODELS.get((component.kind, component.name))
    by_kind = {"metric": FEW_DRAWS, "feature_extractor": FEATURE_PARAMS, "prior": SHORT_FITS}
    params = by_kind.get(component.kind, {}).get(component.name)
    built = check_component(component.cls, params, name=component.name, model=model)
    assert isinstance(built, component.cls)


@pytest.mark.parametrize(
    ("cls", "context"),
    [
        pytest.param("ConvEncoder", {"in_shape": (1, 8, 8)}, id="conv-encoder-feature-map"),
        pytest.param("ConvDecoder", {"in_shape": (6, 2, 2), "in_features": 24},
                     id="conv-decoder-from-a-grid"),
        pytest.param("VectorQuantizer", {"in_shape": (8, 2, 2)}, id="vq-on-a-grid"),
    ],
)  # fmt: skip
def test_grid_latents_keep_the_contract(cls, context):
    from genkit_plugins.networks.conv import ConvDecoder, ConvEncoder
    from genkit_plugins.posteriors.vq import VectorQuantizer

    component = {"ConvEncoder": ConvEncoder, "ConvDecoder": ConvDecoder,
                 "VectorQuantizer": VectorQuantizer}[cls]  # fmt: skip
    params = {"hidden": None, "feature_map": True} if cls == "ConvEncoder" else None
    params = {"hidden": None, "channels": [4, 4]} if cls == "ConvDecoder" else params
    built = check_component(component, params, context=context)
    if cls == "ConvEncoder":
        assert built.out_shape == (64, 2, 2) and built.out_features == 256


class _WrongShape(MLPEncoder):
    """Forgets the batch dimension."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x).sum(0)


class _Integer(MLPEncoder):
    """Returns integers."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x).long()


class _NonFinite(MLPEncoder):
    """Divides by zero."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x) / 0.0


class _Detached(MLPEncoder):
    """Cuts the gradient."""

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(x).detach()


class _UnusedParameter(MLPEncoder):
    """Holds a parameter no output depends on."""

    def __init__(self, params: Params, in_shape: tuple[int, ...]):
        super().__init__(params, in_shape)
        self.unused = nn.Parameter(torch.zeros(3))


class _NoOutFeatures(Encoder):
    """Never sets out_features."""

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(1)


class _Abstract(Encoder):
    """Forgets forward."""


class _NotPydantic(MLPEncoder):
    Params = dict  # type: ignore[assignment]


class _LogProbPerElement(Bernoulli):
    """Forgets to sum over data elements."""

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        return -torch.nn.functional.binary_cross_entropy_with_logits(
            params[:, 0], x, reduction="none"
        )


class _Raising(Likelihood):
    """Refuses to be built."""

    class Params(Params):
        size: int = 1

    def __init__(self, params: BaseModel, data_shape: tuple[int, ...]):
        raise RuntimeError("no")

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor: ...
    def mean(self, params: Tensor) -> Tensor: ...
    def sample(self, params: Tensor) -> Tensor: ...


class _FlatFeatures(FeatureExtractor):
    """One number for the whole batch."""

    def __call__(self, images: Tensor) -> Tensor:
        return images.sum().reshape(1)


class _BatchFeatures(FeatureExtractor):
    """Features that depend on the rest of the batch (a batch norm left in training mode)."""

    def __call__(self, images: Tensor) -> Tensor:
        flat = images.flatten(1)
        return flat - flat.mean(0)


@pytest.mark.parametrize(
    ("cls", "params", "message"),
    [
        pytest.param(_FlatFeatures, None, r"__call__ returned \(1,\) for 4 images, expected "
                     r"\(B, F\)", id="features-shape"),
        pytest.param(_BatchFeatures, None, "other features alone than in a batch",
                     id="features-of-the-batch"),
        pytest.param(_WrongShape, None,
                     r"forward\(x\) returned shape \(512,\), expected \(4, 512\)", id="shape"),
        pytest.param(_Integer, None, "forward.x. returned dtype torch.int64", id="dtype"),
        pytest.param(_NonFinite, None, r"forward\(x\) returned non-finite values", id="non-finite"),
        pytest.param(_Detached, None, "its output is detached from the inputs", id="detached"),
        pytest.param(_UnusedParameter, None, "no finite gradient reaches parameter 'unused'",
                     id="unused-parameter"),
        pytest.param(_NoOutFeatures, None, "must set self.out_features", id="out-features"),
        pytest.param(_Abstract, None, "does not implement the encoder methods: forward",
                     id="abstract"),
        pytest.param(_NotPydantic, None, "Params must be a pydantic BaseModel", id="not-pydantic"),
        pytest.param(MLPEncoder, {"hidden": [0]}, r"params \{'hidden': \[0\]\} are invalid",
                     id="bad-params"),
        pytest.param(_LogProbPerElement, None,
                     r"log_prob\(x, params\) returned shape \(4, 1, 8, 8\), expected \(4,\)",
                     id="log-prob-not-summed"),
        pytest.param(_Raising, None, "failed to build: RuntimeError: no", id="constructor"),
    ],
)  # fmt: skip
def test_a_broken_contract_names_the_component_and_the_problem(cls, params, message):
    with pytest.raises(PluginError, match=rf"^\w+ 'checked' \({cls.__qualname__}\).*{message}"):
        check_component(cls, params)


def test_context_replaces_the_default_shapes():
    encoder = check_component(MLPEncoder, {"hidden": [5]}, context={"in_shape": (3, 4, 4)})
    assert encoder.in_shape == (3, 4, 4)
    assert encoder.out_features == 5


def test_model_sections_are_only_for_the_kinds_checked_in_a_model():
    with pytest.raises(ValueError, match=r"model= is for the kinds checked in a model .*encoder"):
        check_component(MLPEncoder, model={"posterior": {"type": "gaussian"}})
