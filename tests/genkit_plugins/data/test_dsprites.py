"""dSprites generated from its definition: the factors, the pictures, the cache, DeepMind's file."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from genkit_core import DataError, GroundTruthData
from genkit_core.data import load_data
from genkit_core.spec import load_spec
from genkit_plugins.data import dsprites
from genkit_plugins.data.dsprites import (
    FACTOR_SIZES,
    DSprites,
    DSpritesParams,
    latents_values_table,
    render,
    render_packed,
)

_TINY = [  # color, shape, scale, orientation, posX, posY: 108 images
    np.array([1.0]),
    np.array([1.0, 2.0, 3.0]),
    np.array([0.5, 1.0]),
    np.array([0.0, np.pi / 3]),
    np.array([0.0, 0.5, 1.0]),
    np.array([0.0, 0.5, 1.0]),
]


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """``tiny(**params)``: a DSprites source over a 108-image grid, cached under tmp_path."""
    monkeypatch.setattr(dsprites, "latents_values_table", lambda: [v.copy() for v in _TINY])

    def make(**params: object) -> DSprites:
        return DSprites(DSpritesParams(root=str(tmp_path), **params))  # type: ignore[arg-type]

    return make


def _positions(n: int) -> torch.Tensor:
    return torch.linspace(0, 1, n, dtype=torch.float64)


def _centroid(image: torch.Tensor) -> tuple[float, float]:
    rows, cols = image.nonzero(as_tuple=True)
    return float(rows.double().mean()), float(cols.double().mean())


def test_the_factors_are_deepminds():
    values = latents_values_table()
    assert FACTOR_SIZES == (1, 3, 6, 40, 32, 32)
    assert math.prod(FACTOR_SIZES) == 737_280
    assert [len(v) for v in values] == list(FACTOR_SIZES)
    np.testing.assert_array_equal(values[1], [1.0, 2.0, 3.0])
    np.testing.assert_allclose(values[2], [0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    assert values[3][0] == 0 and values[3][-1] == pytest.approx(2 * np.pi)
    np.testing.assert_allclose(np.diff(values[4]), 1 / 31)


def test_an_image_index_is_its_classes_with_posy_fastest(tiny):
    source = tiny()
    n = math.prod(len(v) for v in _TINY)
    classes = source.latents_classes(np.arange(n))
    want = list(itertools.product(*(range(len(v)) for v in _TINY)))
    np.testing.assert_array_equal(classes, want)
    values = source.latents_values(np.array([n - 1]))
    np.testing.assert_allclose(values[0], [v[-1] for v in _TINY])


def test_one_block_holds_every_position_each_image_different():
    images = render(2, 1.0, 0.3, _positions(32), _positions(32))
    assert images.shape == (32, 32, 64, 64) and images.dtype == torch.bool
    assert len(torch.unique(images.reshape(1024, -1), dim=0)) == 1024


@pytest.mark.parametrize("shape", [0, 1, 2], ids=["square", "ellipse", "heart"])
def test_positions_move_the_shape_and_nothing_else(shape: int):
    images = render(shape, 0.8, 0.5, _positions(4), _positions(4))
    areas = images.flatten(2).sum(-1).double()
    assert float(areas.max() - areas.min()) <= 0.1 * float(areas.mean())
    for i, j in itertools.product(range(3), range(4)):
        (r0, c0), (r1, c1) = _centroid(images[i, j]), _centroid(images[i + 1, j])
        assert c1 - c0 == pytest.approx(64 / 6, abs=0.6) and r1 == pytest.approx(r0, abs=0.6)
        (r0, c0), (r1, c1) = _centroid(images[j, i]), _centroid(images[j, i + 1])
        assert r1 - r0 == pytest.approx(64 / 6, abs=0.6) and c1 == pytest.approx(c0, abs=0.6)


@pytest.mark.parametrize("shape", [0, 1, 2], ids=["square", "ellipse", "heart"])
def test_scale_grows_the_area_about_a_fixed_centre(shape: int):
    half = torch.tensor([0.5], dtype=torch.float64)
    images = [render(shape, s, 0.0, half, half)[0, 0] for s in latents_values_table()[2]]
    areas = [int(image.sum()) for image in images]
    assert areas == sorted(areas) and len(set(areas)) == 6
    assert areas[-1] / areas[0] == pytest.approx(4, rel=0.15)  # area goes as scale squared
    for image in images:
        assert _centroid(image) == pytest.approx(_centroid(images[-1]), abs=0.6)


def test_orientation_turns_the_heart_without_resizing_it():
    half = torch.tensor([0.5], dtype=torch.float64)
    images = [render(2, 1.0, float(a), half, half)[0, 0] for a in latents_values_table()[3]]
    areas = np.array([int(image.sum()) for image in images])
    assert areas.std() < 0.03 * areas.mean()
    assert torch.equal(images[0], images[-1])  # 0 and 2 pi: DeepMind's table holds both
    upright, turned = _top_and_bottom_widths(images[0]), _top_and_bottom_widths(images[20])
    assert upright[0] > upright[1]  # the lobes at the top, the point at the bottom
    assert turned[0] < turned[1]  # half a turn (20 of 39 steps) later, the other way up


def _top_and_bottom_widths(image: torch.Tensor) -> tuple[int, int]:
    """The white pixels of the third row from the top and from the bottom of the shape."""
    rows, _ = image.nonzero(as_tuple=True)
    return int(image[rows.min() + 2].sum()), int(image[rows.max() - 2].sum())


def test_the_three_shapes_differ_at_the_same_scale_and_place():
    half = torch.tensor([0.5], dtype=torch.float64)
    images = [render(s, 1.0, 0.0, half, half)[0, 0] for s in range(3)]
    for a, b in itertools.combinations(images, 2):
        assert int((a ^ b).sum()) > 30


def test_rendering_is_deterministic_and_packed_as_packbits():
    packed = render_packed(1, 0.7, 1.1, _positions(5), _positions(3))
    again = render_packed(1, 0.7, 1.1, _positions(5), _positions(3))
    np.testing.assert_array_equal(packed, again)
    images = render(1, 0.7, 1.1, _positions(5), _positions(3))
    np.testing.assert_array_equal(packed, np.packbits(images.reshape(15, -1).numpy(), axis=1))


def test_the_cache_is_written_once_and_read_back(tiny, tmp_path, monkeypatch):
    first = tiny()
    index = np.arange(108)
    images = first.images(index)
    cache = tmp_path / "dsprites" / "generated_v1.npy"
    assert cache.is_file() and not list(cache.parent.glob(".*.tmp"))
    assert images.dtype == torch.uint8 and set(images.unique().tolist()) == {0, 255}

    def fail(*args: object) -> None:
        raise AssertionError("generated again")

    monkeypatch.setattr(dsprites, "_generate", fail)
    second = tiny()
    assert torch.equal(second.images(index), images)
    classes = second.latents_classes(index[[17]])[0]
    values = [v[c] for v, c in zip(_TINY, classes, strict=True)]
    want = render(int(classes[1]), values[2], values[3], *(torch.tensor([v]) for v in values[4:]))
    assert torch.equal(images[17, 0] > 0, want[0, 0])


def test_a_cut_off_cache_is_generated_anew(tiny, tmp_path):
    images = tiny().images(np.arange(108))
    cache = tmp_path / "dsprites" / "generated_v1.npy"
    cache.write_bytes(cache.read_bytes()[:1000])
    assert torch.equal(tiny().images(np.arange(108)), images)


def test_an_unwritable_root_is_a_data_error(tiny, tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(DataError, match=r"cannot create .*file.*set data.root or data.cache"):
        tiny(cache=str(tmp_path / "file" / "sub" / "d.npy")).images(np.arange(2))


def test_the_split_is_seeded_disjoint_and_max_train_unpacks_only_what_is_kept(tiny):
    source = tiny(test_fraction=0.25, split_seed=4)
    train, test = source.split_indices()
    assert len(train) == 81 and len(test) == 27 and not set(train) & set(test)
    again_train, _ = tiny(test_fraction=0.25, split_seed=4).split_indices()
    np.testing.assert_array_equal(train, again_train)
    other, _ = tiny(test_fraction=0.25, split_seed=5).split_indices()
    assert not np.array_equal(train, other)
    bundle = tiny(test_fraction=0.25, split_seed=4, max_train=10, max_test=5).load()
    assert bundle.train.x.shape == (10, 1, 64, 64) and bundle.test.x.shape == (5, 1, 64, 64)
    assert bundle.train.y is None and bundle.info.shape == (1, 64, 64)
    assert set(source.split_indices()[0][:0]) == set()
    kept, _ = tiny(test_fraction=0.25, split_seed=4, max_train=10).split_indices()
    assert set(kept) <= set(train)


def test_it_is_ground_truth_data_over_the_five_factors_that_vary(tiny):
    source = tiny()
    assert isinstance(source, GroundTruthData)
    assert source.factor_names == ("shape", "scale", "orientation", "posX", "posY")
    assert source.factor_sizes == (3, 2, 2, 3, 3)
    rng = np.random.default_rng(0)
    factors = source.sample_factors(7, rng)
    assert factors.shape == (7, 5) and (factors < np.array(source.factor_sizes)).all()
    images = source.sample_observations_from_factors(factors, rng)
    index = np.ravel_multi_index(tuple(factors.T), (3, 2, 2, 3, 3))
    assert torch.equal(images, source.images(index))


def test_a_spec_loads_it_through_the_registry(tiny, tmp_path, spec_dict, builtins_registry):
    data = {"type": "dsprites", "root": str(tmp_path), "max_train": 20, "max_test": 6}
    spec = load_spec(spec_dict(data=data), registry=builtins_registry)
    bundle = load_data(spec, builtins_registry)
    assert len(bundle.train) == 20 and len(bundle.test) == 6 and bundle.info.train_size == 20


def _deepmind_layout(path: Path, rows: np.ndarray | None = None) -> np.ndarray:
    """The tiny grid written as DeepMind's npz (imgs 0/1, classes, values, a pickled metadata)."""
    sizes = tuple(len(v) for v in _TINY)
    classes = np.array(list(itertools.product(*(range(s) for s in sizes))))
    values = np.stack([v[classes[:, k]] for k, v in enumerate(_TINY)], axis=1)
    imgs = (np.random.default_rng(0).random((len(classes), 64, 64)) < 0.3).astype(np.uint8)
    order = np.arange(len(classes)) if rows is None else rows
    metadata = np.array({"latents_sizes": sizes}, dtype=object)
    np.savez_compressed(
        path,
        imgs=imgs[order],
        latents_classes=classes[order],
        latents_values=values[order],
        metadata=metadata,
    )
    return imgs


@pytest.mark.parametrize("shuffled", [False, True], ids=["in-order", "shuffled"])
def test_deepminds_npz_is_read_through_path(tmp_path, shuffled):
    path = tmp_path / "dsprites_ndarray.npz"
    rows = np.random.default_rng(1).permutation(108) if shuffled else None
    imgs = _deepmind_layout(path, rows)
    source = DSprites(DSpritesParams(path=str(path)))
    assert source.factor_sizes_all == (1, 3, 2, 2, 3, 3)
    got = source.images(np.arange(108))
    np.testing.assert_array_equal(got[:, 0].numpy(), imgs * 255)
    last = source.latents_values(np.array([107]))[0]
    np.testing.assert_allclose(last, [1, 3, 1, np.pi / 3, 1, 1])


def test_a_file_without_deepminds_arrays_is_a_data_error(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, x_train=np.zeros((2, 64, 64)))
    with pytest.raises(DataError, match=r"no array 'imgs'.*imgs, latents_classes"):
        DSprites(DSpritesParams(path=str(path))).load()
    with pytest.raises(DataError, match=r"does not exist.*leave path null"):
        DSprites(DSpritesParams(path=str(tmp_path / "missing.npz"))).load()


def test_repeated_factor_classes_are_a_data_error(tmp_path):
    path = tmp_path / "dsprites_ndarray.npz"
    _deepmind_layout(path, np.r_[0, np.arange(107)])
    with pytest.raises(DataError, match="latents_classes repeat a combination"):
        DSprites(DSpritesParams(path=str(path))).load()


def test_a_cache_that_is_a_directory_is_a_data_error(tiny, tmp_path):
    with pytest.raises(DataError, match=r"data.cache: .* is a directory, not a file; name the"):
        tiny(cache=str(tmp_path)).load()


def test_a_path_that_is_not_a_zip_is_a_data_error_without_pickle_advice(tmp_path):
    path = tmp_path / "dsprites.npz"
    path.write_text("not an archive")
    not_a_zip = r"is not a .npz file .*starts with b'not an archive'"
    with pytest.raises(DataError, match=not_a_zip) as caught:
        DSprites(DSpritesParams(path=str(path))).load()
    assert "pickle" not in str(caught.value)


@pytest.mark.parametrize("fraction", [1e-9, 1 - 1e-9], ids=["no-test", "no-train"])
def test_a_test_fraction_that_empties_a_split_is_a_data_error(tiny, fraction):
    with pytest.raises(DataError, match=r"data.test_fraction: .* leaving a split empty"):
        tiny(test_fraction=fraction).load()
