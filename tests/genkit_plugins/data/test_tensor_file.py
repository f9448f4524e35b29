"""tensor_file: every format, the layouts, labels, memory maps and every error."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from genkit_core import DataError
from genkit_core.data import load_data
from genkit_core.spec import load_spec
from genkit_core.testing import check_component
from genkit_plugins.data.tensor_file import TensorFile, TensorFileParams

RNG = np.random.default_rng(0)
ARRAYS = {
    "x_train": RNG.integers(0, 256, (12, 5, 6), dtype=np.uint8),
    "y_train": RNG.integers(0, 4, 12),
    "x_test": RNG.integers(0, 256, (4, 5, 6), dtype=np.uint8),
    "y_test": np.array([0, 1, 2, 3]),
}


def _write(tmp_path: Path, fmt: str, arrays: dict[str, np.ndarray] = ARRAYS) -> Path:
    if fmt == "npz":
        np.savez(path := tmp_path / "data.npz", **arrays)
    elif fmt in ("pt", "pth"):
        path = tmp_path / f"data.{fmt}"
        torch.save({k: torch.from_numpy(v) for k, v in arrays.items()}, path)
    else:
        (path := tmp_path / "arrays").mkdir()
        for key, value in arrays.items():
            np.save(path / f"{key}.npy", value)
    return path


def _source(path: Path, **params) -> TensorFile:
    return TensorFile(TensorFileParams(path=str(path), **params))


@pytest.mark.parametrize("fmt", ["npz", "pt", "pth", "npy"])
@pytest.mark.parametrize("mmap", [False, True], ids=["read", "mmap"])
def test_every_format_gives_the_arrays_channels_first_and_uint8(tmp_path, fmt, mmap):
    if mmap and fmt == "npz":
        pytest.skip("a .npz cannot be mapped (tested below)")
    source = _source(_write(tmp_path, fmt), mmap=mmap)
    bundle = source.load()
    assert bundle.info.shape == (1, 5, 6) and bundle.info.num_classes == 4
    assert source.describe() == bundle.info
    x = np.asarray(bundle.train.x)
    assert x.dtype == np.uint8 and np.array_equal(x[:, 0], ARRAYS["x_train"])
    assert np.array_equal(np.asarray(bundle.test.y), ARRAYS["y_test"])


def test_mmap_keeps_npy_files_on_disk(tmp_path):
    bundle = _source(_write(tmp_path, "npy"), mmap=True).load()
    assert isinstance(bundle.train.x, np.memmap)


def test_mmap_of_npz_is_refused_with_the_fix(tmp_path):
    with pytest.raises(DataError, match=r"data.npz: data.mmap needs uncompressed .npy.*np.save"):
        _source(_write(tmp_path, "npz"), mmap=True).load()


@pytest.mark.parametrize(
    ("shape", "layout", "expected"),
    [
        pytest.param((3, 7), "auto", (7,), id="vectors"),
        pytest.param((3, 5, 6, 3), "auto", (3, 5, 6), id="channels-last-auto"),
        pytest.param((3, 1, 5, 6), "auto", (1, 5, 6), id="channels-first-auto"),
        pytest.param((3, 5, 6, 2), "channels_last", (2, 5, 6), id="channels-last-given"),
    ],
)
def test_layouts(tmp_path, shape, layout, expected):
    x = RNG.random((2 * shape[0], *shape[1:])).astype(np.float32)
    arrays = {"x_train": x[: shape[0]], "x_test": x[shape[0] :]}
    bundle = _source(_write(tmp_path, "npz", arrays), layout=layout).load()
    assert bundle.info.shape == expected and bundle.info.num_classes is None
    if (
        len(shape) == 4 and expected[0] == shape[-1]
    ):  # channels moved first: pixel (4, 5) of the last channel
        c = shape[-1] - 1
        assert bundle.train.x[1, c, 4, 5] == torch.as_tensor(x[1, 4, 5, c])


def test_an_unclear_channel_axis_asks_for_the_layout(tmp_path):
    x = np.zeros((2, 5, 6, 7), np.float32)
    with pytest.raises(DataError, match="set layout: channels_first or channels_last"):
        _source(_write(tmp_path, "npz", {"x_train": x, "x_test": x})).load()


def test_missing_default_labels_mean_unlabelled_but_a_named_key_must_exist(tmp_path):
    arrays = {"x_train": ARRAYS["x_train"], "x_test": ARRAYS["x_test"]}
    path = _write(tmp_path, "npz", arrays)
    assert _source(path).load().train.y is None
    with pytest.raises(DataError, match=r"no array 'labels' \(data.y_train\).*x_test"):
        _source(path, y_train="labels").load()


def test_num_classes_given_and_float_conditions(tmp_path):
    assert _source(_write(tmp_path, "npz"), num_classes=10).describe().num_classes == 10
    arrays = {**ARRAYS, "y_train": np.ones((12, 3), np.float32), "y_test": np.ones((4, 3))}
    info = _source(_write(tmp_path, "pt", arrays)).describe()
    assert info.condition_dim == 3 and info.num_classes is None


def test_labels_on_one_split_only_are_refused(tmp_path):
    arrays = {k: v for k, v in ARRAYS.items() if k != "y_test"}
    with pytest.raises(DataError, match="only the train split has labels"):
        _source(_write(tmp_path, "npz", arrays)).load()


def test_missing_file_and_unknown_format_name_the_path_and_the_fix(tmp_path):
    with pytest.raises(DataError, match=r"nope.npz does not exist .*current directory"):
        _source(tmp_path / "nope.npz").load()
    (bad := tmp_path / "data.csv").write_text("1,2")
    with pytest.raises(DataError, match=r"data.csv has format '.csv'; genkit reads .npz"):
        _source(bad).load()
    (broken := tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 torn zip")
    with pytest.raises(DataError, match=r"broken.npz is not a readable .npz file"):
        _source(broken).load()


def test_a_text_file_named_npz_gets_no_pickle_advice(tmp_path):
    # the original report: numpy's "Cannot load file containing pickled data when
    # allow_pickle=False", which suggests the one fix genkit must never take
    (text := tmp_path / "data.npz").write_text("x,y\n1,2\n")
    with pytest.raises(DataError) as info:
        _source(text).load()
    assert str(info.value) == (
        f"{text} is not a .npz file (a .npz is a zip archive of arrays, written by np.savez; "
        "this one starts with b'x,y\\n1,2\\n'); write it with np.savez(path, x_train=..., "
        "x_test=...)"
    )
    assert "pickle" not in str(info.value)


def test_pickles_are_never_loaded(tmp_path):
    objects = np.array([{"a": 1}] * 3, dtype=object)
    np.savez(path := tmp_path / "objects.npz", x_train=objects, x_test=objects)
    with pytest.raises(DataError, match="'x_train' holds Python objects"):
        _source(path).load()

    torch.save({"x_train": Fraction(1, 2)}, path := tmp_path / "objects.pt")
    with pytest.raises(DataError, match=r"objects.pt holds Python objects besides tensors"):
        _source(path).load()
    torch.save([torch.zeros(2)], path := tmp_path / "list.pt")
    with pytest.raises(DataError, match="holds a list, not a dict of tensors"):
        _source(path).load()


def test_load_data_flattens_and_limits_a_memory_map_without_reading_it(
    tmp_path, spec_dict, monkeypatch
):
    path = _write(tmp_path, "npy")
    data = {"type": "tensor_file", "path": str(path), "mmap": True, "flatten": True, "max_train": 5}
    bundle = load_data(load_spec(spec_dict(data=data)))
    assert isinstance(bundle.train.x, np.memmap) and bundle.train.x.shape == (5, 30)
    assert np.array_equal(bundle.train.x, ARRAYS["x_train"][:5].reshape(5, -1))


def test_keeps_the_data_source_contract(tmp_path):
    source = check_component(TensorFile, {"path": str(_write(tmp_path, "npz"))}, name="tensor_file")
    assert source.describe().num_classes == 4
