"""image_folder: classes from sub-folders, the held-out split, sizes, channels, placement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genkit_core import DataError
from genkit_core.data import batches as batches_module
from genkit_core.data import load_data
from genkit_core.data.batches import InMemoryBatches, StreamedBatches, make_batches
from genkit_core.spec import load_spec
from genkit_core.testing import check_component
from genkit_plugins.data.image_folder import ImageFolder, ImageFolderParams

RNG = np.random.default_rng(0)


def write_images(
    folder: Path, per_class: dict[str, int] | int, size=(6, 5)
) -> dict[Path, np.ndarray]:
    """Random RGB PNGs of ``size`` (height, width): ``per_class`` images per class sub-folder,
    or that many directly in ``folder``."""
    written = {}
    groups = per_class if isinstance(per_class, dict) else {"": per_class}
    for name, n in groups.items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            pixels = RNG.integers(0, 256, (*size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(path := folder / name / f"{i}.png")
            written[path] = pixels
    return written


def _source(path: Path, **params) -> ImageFolder:
    return ImageFolder(ImageFolderParams(path=str(path), **params))


def test_classes_come_from_sorted_sub_folders_and_pixels_are_kept(tmp_path):
    written = write_images(tmp_path, {"cat": 3, "ant": 4, "bee": 3})
    source = _source(tmp_path, test_fraction=0.2)
    bundle = source.load()
    assert bundle.info.shape == (3, 6, 5) and bundle.info.num_classes == 3
    assert source.describe() == bundle.info
    assert (len(bundle.train), len(bundle.test)) == (8, 2)
    train = bundle.train.x
    seen = set()
    for i in range(len(train)):
        x, y = train[i]
        path = train.files[i]
        assert x.dtype == torch.uint8 and np.array_equal(x.permute(1, 2, 0).numpy(), written[path])
        assert y == ["ant", "bee", "cat"].index(path.parent.name)
        seen.add(path)
    assert seen.isdisjoint(bundle.test.x.files)


def test_the_split_is_deterministic_and_seeded(tmp_path):
    write_images(tmp_path, 10)
    files = [_source(tmp_path, split_seed=s).load().test.x.files for s in (0, 0, 1)]
    assert files[0] == files[1] and files[0] != files[2]


def test_unlabelled_folder_grey_and_resized(tmp_path):
    write_images(tmp_path, 4)
    bundle = _source(tmp_path, channels=1, size=[3, 4], test_fraction=0.25).load()
    assert bundle.info == bundle.info.__class__((1, 3, 4), None, name=tmp_path.name)
    x, y = bundle.test.x[0]
    assert x.shape == (1, 3, 4) and y == -1


def test_test_dir_gives_the_test_split(tmp_path):
    write_images(tmp_path / "train", {"a": 2, "b": 2})
    write_images(tmp_path / "test", {"a": 1, "b": 1})
    bundle = _source(tmp_path / "train", test_dir=str(tmp_path / "test")).load()
    assert (len(bundle.train), len(bundle.test)) == (4, 2)
    write_images(tmp_path / "other", {"a": 1, "c": 1})
    with pytest.raises(DataError, match=r"data.test_dir: .* has classes \['a', 'c'\]"):
        _source(tmp_path / "train", test_dir=str(tmp_path / "other")).load()


def test_errors_name_the_folder_or_file_and_the_fix(tmp_path):
    with pytest.raises(DataError, match=r"data.path: .*nope is not a directory"):
        _source(tmp_path / "nope").load()
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no images"):
        _source(tmp_path / "empty").load()
    write_images(tmp_path / "mixed", 2, size=(4, 4))
    write_images(tmp_path / "mixed2", 1, size=(5, 5))
    (tmp_path / "mixed2" / "0.png").rename(tmp_path / "mixed" / "9.png")
    bundle = _source(tmp_path / "mixed", test_fraction=0.3).load()
    every = [*bundle.train.x.files, *bundle.test.x.files]
    dataset = bundle.train.x.__class__(every, None, (4, 4), 3, resize=False)
    with pytest.raises(DataError, match=r"9.png is 5x5 but the first image is 4x4; set data.size"):
        [dataset[i] for i in range(3)]
    (tmp_path / "mixed" / "9.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"9.png is not a readable image"):
        [dataset[i] for i in range(3)]


def test_a_small_folder_is_held_in_memory_and_a_large_one_streamed(
    tmp_path, spec_dict, monkeypatch
):
    write_images(tmp_path, {"a": 5, "b": 5})
    data = {"type": "image_folder", "path": str(tmp_path), "max_train": 6, "flatten": True}
    bundle = load_data(load_spec(spec_dict(model="cvae", data=data)))
    cpu = torch.device("cpu")

    def batches() -> list:
        made = make_batches(bundle.train, bundle.info, True, 4, cpu, num_workers=0)
        return made, list(made.epoch(torch.arange(6)))

    held, held_batches = batches()
    # a device with 20 bytes free holds nothing: the 6 x 90 bytes are streamed
    monkeypatch.setattr(batches_module, "_free_memory", lambda device: 20)
    streamed, streamed_batches = batches()
    assert isinstance(held, InMemoryBatches) and isinstance(streamed, StreamedBatches)
    for (x1, y1), (x2, y2) in zip(held_batches, streamed_batches, strict=True):
        assert x1.shape[1:] == (90,) and torch.equal(x1, x2) and torch.equal(y1, y2)


def test_keeps_the_data_source_contract(tmp_path):
    write_images(tmp_path, {"a": 3, "b": 3})
    params = {"path": str(tmp_path), "test_fraction": 0.34}
    assert check_component(ImageFolder, params, name="image_folder").describe().num_classes == 2
