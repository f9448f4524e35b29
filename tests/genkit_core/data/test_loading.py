"""Bad data is a DataError naming the data, the split and the problem, before the first step."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch

from genkit_core import Component, DataBundle, DataError, DataInfo, DataSource, SpecError, Split
from genkit_core.data import load_data
from genkit_core.spec import load_spec
from genkit_core.training import Trainer

_INFO = DataInfo(shape=(1, 8, 8), num_classes=10, name="given")


def _images(n: int = 64) -> torch.Tensor:
    return torch.rand(n, 1, 8, 8, generator=torch.Generator().manual_seed(0))


def _labels(n: int = 64) -> torch.Tensor:
    return torch.arange(n) % 10


class Given(DataSource):
    """Hands back whatever bundle the test put in ``Given.bundle`` (or raises ``Given.error``)."""

    bundle: ClassVar[DataBundle | None] = None
    error: ClassVar[Exception | None] = None

    def describe(self) -> DataInfo:
        return _INFO

    def load(self) -> DataBundle:
        if Given.error is not None:
            raise Given.error
        assert Given.bundle is not None
        return Given.bundle


@pytest.fixture
def given(builtins_registry, spec_dict, monkeypatch):
    """``given(bundle, model)``: the spec dict and registry of a tiny run on ``bundle``."""
    builtins_registry.add(Component("given", Given))

    def make(bundle: DataBundle | None, model: str = "vae", error: Exception | None = None):
        monkeypatch.setattr(Given, "bundle", bundle)
        monkeypatch.setattr(Given, "error", error)
        return spec_dict(model=model, data={"type": "given"}), builtins_registry

    return make


def _bundle(train: Split | None = None, test: Split | None = None) -> DataBundle:
    train = Split(_images(), _labels()) if train is None else train  # an empty Split is falsy
    test = Split(_images(16), _labels(16)) if test is None else test
    return DataBundle(train, test, _INFO)


def _nan_at(index: int) -> torch.Tensor:
    x = _images()
    x[index, 0, 3, 3] = float("nan")
    return x


def _inf_test() -> torch.Tensor:
    x = _images(16)
    x[2] = float("inf")
    return x


CASES = [
    pytest.param(
        _bundle(Split(_nan_at(5), _labels())),
        "vae",
        r"train split: examples hold non-finite values \(NaN or inf\), the first at index 5",
        id="nan-in-train",
    ),
    pytest.param(
        _bundle(test=Split(_inf_test(), _labels(16))),
        "vae",
        r"test split: examples hold non-finite values .* index 2",
        id="inf-in-test",
    ),
    pytest.param(
        _bundle(Split(_images().reshape(64, 64), _labels())),
        "vae",
        r"train split: examples have shape \(64,\) but the data says \(1, 8, 8\)",
        id="shape-not-matching",
    ),
    pytest.param(
        _bundle(Split(_images(), _labels() + 1)),
        "cvae",
        r"train split: labels range over \[1, 10\] but there are 10 classes \(0 to 9\)",
        id="label-outside-classes",
    ),
    pytest.param(
        _bundle(Split(_images(), -_labels())),
        "cvae",
        r"train split: labels range over \[-9, 0\]",
        id="negative-label",
    ),
    pytest.param(
        _bundle(Split(_images(), _labels().float())),
        "cvae",
        r"train split: class labels must be integers of shape \(N,\), got torch.float32",
        id="float-labels",
    ),
    pytest.param(
        _bundle(Split(_images(), _labels(63))),
        "cvae",
        r"train split: 63 labels for 64 examples",
        id="too-few-labels",
    ),
    pytest.param(
        _bundle(Split(_images(), None)),
        "cvae",
        r"train split: a cvae needs labels, and this split has none",
        id="cvae-without-labels",
    ),
    pytest.param(
        _bundle(test=Split(_images(0), _labels(0))),
        "vae",
        r"test split: it is empty",
        id="empty-split",
    ),
    pytest.param(
        _bundle(Split(_images() * 3, _labels())),
        "vae",
        r"train split: .*bernoulli|train split: .*\[0, 1\]",
        id="outside-the-likelihoods-support",
    ),
]


@pytest.mark.parametrize(("bundle", "model", "message"), CASES)
def test_bad_data_is_a_data_error_before_the_first_step(given, tmp_path, bundle, model, message):
    spec, registry = given(bundle, model)
    trainer = Trainer(spec, tmp_path / "run", registry=registry, stream=None)
    with pytest.raises(DataError, match=rf"data 'given', {message}"):
        trainer.fit()
    assert not (tmp_path / "run").exists()  # nothing was written, no step was taken


def test_numpy_arrays_are_checked_like_tensors(given):
    x = _nan_at(7).numpy()
    spec, registry = given(_bundle(Split(x, np.arange(64) % 10)))
    with pytest.raises(DataError, match="index 7"):
        load_data(load_spec(spec, registry=registry), registry)


def test_a_file_of_the_wrong_format_is_a_data_error_naming_the_source(given, tmp_path: Path):
    bad = tmp_path / "images.npy"
    bad.write_bytes(b"this is not a .npy file")
    try:
        np.load(bad, allow_pickle=False)
    except ValueError as exc:
        error = exc
    spec, registry = given(None, error=error)
    with pytest.raises(DataError, match=r"data 'given' failed to load: ValueError: .*"):
        load_data(load_spec(spec, registry=registry), registry)


def test_a_conv_encoder_on_flat_data_is_refused_before_loading(spec_dict, tmp_path: Path):
    conv = {"type": "conv", "channels": [8]}
    spec = spec_dict(
        data={"type": "digits", "flatten": True, "max_train": 64},
        encoder=conv,
        decoder=conv,
    )
    with pytest.raises(SpecError, match=r"encoder\.type: conv needs image data"):
        Trainer(spec, tmp_path / "run", stream=None).fit()
    assert not (tmp_path / "run").exists()


def test_an_empty_split_with_flatten_is_the_empty_split_error(given):
    spec, registry = given(_bundle(test=Split(_images(0), _labels(0))))
    spec["data"]["flatten"] = True
    with pytest.raises(DataError, match=r"data 'given', test split: it is empty"):
        load_data(load_spec(spec, registry=registry), registry)
