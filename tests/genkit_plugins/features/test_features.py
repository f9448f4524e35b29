"""Feature extractors: the digit classifier's cache (trained once, refused when foreign or
damaged, never executed) and Inception from weights on disk (never downloaded).
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from genkit_core import DataError, MetricData, RunError, SpecError
from genkit_core.components import component_spec
from genkit_core.interfaces import DataBundle, DataInfo, Split, feature_cache_dir
from genkit_plugins.features import DigitClassifier, DigitClassifierParams, Inception
from genkit_plugins.features import InceptionParams as InceptionSettings

INFO = DataInfo((1, 8, 8), num_classes=10, name="digits")


def _data(labelled: bool = True, seed: int = 0) -> MetricData:
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(80, 1, 8, 8, generator=generator)
    y = torch.arange(80) % 10 if labelled else None
    info = INFO if labelled else DataInfo((1, 8, 8), name="blobs")
    bundle = DataBundle(Split(x[:60], None if y is None else y[:60]), Split(x[60:]), info)
    return MetricData(info.name, lambda: bundle)


def _classifier(**params) -> DigitClassifier:
    return DigitClassifier(DigitClassifierParams(**{"steps": 20, **params}))


@pytest.fixture
def cache(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("GENKIT_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "features"


def test_the_cache_is_under_genkit_cache_else_the_users_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("GENKIT_CACHE", str(tmp_path))
    assert feature_cache_dir() == tmp_path / "features"
    monkeypatch.delenv("GENKIT_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert feature_cache_dir() == tmp_path / "xdg" / "genkit" / "features"


def test_the_classifier_is_trained_once_and_read_from_the_cache(cache: Path, capsys, monkeypatch):
    first = _classifier()
    first.prepare(_data())
    (written,) = cache.iterdir()
    assert written.name == f"digit_classifier-{first.identity.split(':')[1]}.safetensors"
    assert "trained on 60 images of digits for 20 steps" in capsys.readouterr().err
    monkeypatch.setattr(DigitClassifier, "_train", lambda *a: pytest.fail("trained again"))
    second = _classifier()
    second.prepare(_data())
    images = torch.rand(5, 1, 8, 8)
    assert torch.equal(first(images), second(images))
    assert first(images).shape == (5, 128)
    assert capsys.readouterr().err == ""


def test_other_data_or_settings_train_another_classifier(cache: Path):
    for data, params in ((_data(), {}), (_data(seed=1), {}), (_data(), {"steps": 21})):
        _classifier(**params).prepare(data)
    assert len(list(cache.iterdir())) == 3


def test_training_is_deterministic_and_leaves_torchs_random_state_alone(cache: Path):
    state = torch.random.get_rng_state()
    a, b = _classifier(cache=False), _classifier(cache=False)
    a.prepare(_data())
    b.prepare(_data())
    assert torch.equal(torch.random.get_rng_state(), state)
    images = torch.rand(3, 1, 8, 8)
    assert torch.equal(a(images), b(images))
    assert not cache.exists()  # cache: false writes nothing


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda p: p.write_bytes(b"\x00" * 100), id="garbage"),
        pytest.param(lambda p: p.write_bytes(p.read_bytes()[:-50]), id="truncated"),
        pytest.param(lambda p: save_file({"body.0.weight": torch.zeros(1)}, p), id="foreign"),
        pytest.param(
            lambda p: p.write_bytes(pickle.dumps({"body.0.weight": torch.zeros(1)})), id="pickle"
        ),
    ],
)
def test_a_damaged_or_foreign_cache_file_is_trained_again_and_replaced(cache, capsys, damage):
    reference = _classifier()
    reference.prepare(_data())
    (path,) = cache.iterdir()
    damage(path)
    capsys.readouterr()
    again = _classifier()
    again.prepare(_data())
    err = capsys.readouterr().err
    assert "refused the cache file" in err and "training again" in err
    images = torch.rand(3, 1, 8, 8)
    assert torch.equal(again(images), reference(images))
    _classifier().prepare(_data())  # replaced: read without complaint
    assert "refused" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "special",
    [
        pytest.param(os.mkfifo, id="fifo"),  # reading would wait for a writer forever
        pytest.param(lambda p: p.symlink_to("/dev/zero"), id="endless"),
    ],
)
def test_a_special_file_in_the_caches_place_is_neither_read_nor_replaced(cache, capsys, special):
    reference = _classifier(cache=False)
    reference.prepare(_data())
    cache.mkdir(parents=True)
    special(cache / f"digit_classifier-{reference.identity.split(':')[1]}.safetensors")
    classifier = _classifier()
    classifier.prepare(_data())
    err = capsys.readouterr().err
    assert "not a regular file" in err and "not cached" in err
    images = torch.rand(3, 1, 8, 8)
    assert torch.equal(classifier(images), reference(images))


def test_a_cache_that_cannot_be_written_is_trained_without_it(cache: Path, capsys):
    cache.parent.mkdir()
    cache.write_text("a file where the folder goes")
    classifier = _classifier()
    classifier.prepare(_data())
    assert "not cached" in capsys.readouterr().err
    assert classifier(torch.rand(2, 1, 8, 8)).shape == (2, 128)


def test_unlabelled_data_is_refused_with_what_to_use_instead(cache: Path):
    with pytest.raises(DataError, match=r"data 'blobs' has none; name another feature extractor"):
        _classifier().prepare(_data(labelled=False))


def test_features_before_prepare_are_refused():
    with pytest.raises(Exception, match=r"call prepare\(data\)"):
        _classifier()(torch.rand(2, 1, 8, 8))


def test_a_feature_extractor_is_named_like_any_component():
    spec = component_spec("feature_extractor", "{type: digit_classifier, steps: 10}")
    assert spec.steps == 10
    with pytest.raises(SpecError, match=r"unknown feature_extractor 'incepton'; did you mean"):
        component_spec("feature_extractor", "incepton")
    with pytest.raises(SpecError, match=r"features.path: Field required"):
        component_spec("feature_extractor", {"type": "inception"}, field="features")


# --- inception: weights from a file, never a download ----------------------------------------


@pytest.fixture(scope="module")
def inception_weights(tmp_path_factory) -> Path:
    """torchvision's inception_v3 with its untrained weights (and its auxiliary head, as the
    IMAGENET1K_V1 file has it), saved as a safetensors file."""
    from torchvision.models import inception_v3

    network = inception_v3(weights=None, aux_logits=True, init_weights=False)  # as its file
    path = tmp_path_factory.mktemp("weights") / "inception.safetensors"
    save_file({k: v.contiguous() for k, v in network.state_dict().items()}, path)
    return path


def test_inception_gives_2048_pool_features_of_small_grey_images(inception_weights: Path):
    extractor = Inception(InceptionSettings(path=str(inception_weights), batch_size=1))
    extractor.prepare(_data())
    features = extractor(torch.rand(2, 1, 8, 8))
    assert features.shape == (2, 2048)
    assert torch.isfinite(features).all()
    assert extractor.identity.startswith("inception:")


def test_inception_reads_torchvisions_pth_without_executing_it(inception_weights, tmp_path):
    from safetensors.torch import load_file

    path = tmp_path / "inception.pth"
    torch.save(load_file(inception_weights), path)
    extractor = Inception(InceptionSettings(path=str(path)))
    extractor.prepare(_data())
    assert extractor.network is not None


class _Boom:
    def __reduce__(self):
        return (Path("/nonexistent-genkit-marker").touch, ())


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(None, r"no such file .*does not download", id="missing"),
        pytest.param(
            {"fc.weight": torch.zeros(2, 2)}, r"does not hold torchvision's inc", id="fake"
        ),
        pytest.param(b"not weights", r"not a weights file torch can read safely", id="garbage"),
        pytest.param(_Boom(), r"not a weights file torch can read safely", id="pickled-code"),
    ],
)
def test_inception_refuses_what_is_not_its_weights(tmp_path: Path, content, message):
    path = tmp_path / "weights.pth"
    if isinstance(content, dict):
        path = path.with_suffix(".safetensors")
        save_file(content, path)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_bytes(pickle.dumps(content))
    extractor = Inception(InceptionSettings(path=str(path)))
    with pytest.raises(RunError, match=message):
        extractor.prepare(_data())
    assert not Path("/nonexistent-genkit-marker").exists()
