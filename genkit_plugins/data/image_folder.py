"""A directory of image files, optionally one sub-folder per class, read one image at a time.

The splits are map-style datasets of ``uint8`` ``(C, H, W)`` images: genkit reads them once
into device memory when they fit in half of it, and streams them through ``DataLoader`` workers
(``train.num_workers``) when they do not (see docs/data.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from pydantic import Field
from torch import Tensor
from torch.utils.data import Dataset

from genkit_core import DataBundle, DataError, DataInfo, DataParams, DataSource, Split

__all__ = ["ImageFiles", "ImageFolder", "ImageFolderParams"]

Size = Annotated[int, Field(gt=0, le=1 << 14)]


class ImageFolderParams(DataParams):
    """The folder (relative to the current directory), the held-out split and the image format."""

    path: str = Field(
        description="The folder of images (sub-folders are classes), relative to the current "
        "directory.",
        examples=["data/faces"],
    )
    test_dir: str | None = Field(
        None,
        description="A folder of test images laid out like path; null holds out test_fraction "
        "of path's images instead.",
    )
    test_fraction: Annotated[float, Field(gt=0, lt=1)] = Field(
        0.1, description="The fraction of path's images held out for testing (without test_dir)."
    )
    split_seed: Annotated[int, Field(ge=0, lt=2**32)] = Field(
        0, description="The seed of the held-out split."
    )
    size: Size | tuple[Size, Size] | None = Field(
        None,
        description="Resize every image to size x size, or [height, width]; null requires all "
        "images to have the size of the first.",
    )
    channels: Literal[1, 3] = Field(3, description="1 reads images as grey, 3 as RGB.")


class ImageFiles(Dataset[tuple[Tensor, int]]):
    """Image files as ``(x, y)``: ``x`` a ``uint8`` ``(C, H, W)`` tensor, ``y`` the class (or -1).

    Args:
        files: the image paths.
        labels: one class index per file, or None for unlabelled images.
        size: ``(height, width)`` every image is resized to (bilinear), or checked against.
        channels: 1 (grey, PIL mode ``L``) or 3 (``RGB``).
        resize: whether to resize, or refuse images of another size.
    """

    def __init__(
        self,
        files: list[Path],
        labels: list[int] | None,
        size: tuple[int, int],
        channels: int,
        resize: bool,
    ):
        self.files, self.labels = files, labels
        self.size, self.channels, self.resize = size, channels, resize

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        path = self.files[index]
        with _open(path) as image:
            image = image.convert("L" if self.channels == 1 else "RGB")
            height, width = self.size
            if image.size != (width, height):
                if not self.resize:
                    raise DataError(
                        f"{path} is {image.size[1]}x{image.size[0]} but the first image is "
                        f"{height}x{width}; set data.size to resize every image"
                    )
                image = image.resize((width, height), Image.Resampling.BILINEAR)
            pixels = torch.from_numpy(np.array(image))
        x = pixels[None] if pixels.ndim == 2 else pixels.permute(2, 0, 1)
        return x.contiguous(), -1 if self.labels is None else self.labels[index]


def _open(path: Path) -> Image.Image:
    try:
        return Image.open(path)
    except (UnidentifiedImageError, OSError) as exc:
        raise DataError(f"{path} is not a readable image ({exc}); remove or replace it") from exc


def _is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in Image.registered_extensions()


def _scan(folder: Path, field: str) -> tuple[list[Path], list[int] | None, list[str]]:
    """The images of ``folder``: directly in it (unlabelled) or in class sub-folders."""
    if not folder.is_dir():
        raise DataError(
            f"data.{field}: {folder} is not a directory (relative paths start at the current "
            f"directory, {Path.cwd()}); point it at a folder of images"
        )
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if classes:
        files = [(p, i) for i, c in enumerate(classes) for p in sorted((folder / c).iterdir())]
        files = [(p, i) for p, i in files if _is_image(p)]
        paths, labels = [p for p, _ in files], [i for _, i in files]
    else:
        paths, labels = sorted(p for p in folder.iterdir() if _is_image(p)), None
    if not paths:
        raise DataError(
            f"data.{field}: {folder} holds no images; put image files in it, or in one "
            "sub-folder per class"
        )
    return paths, labels, classes


class ImageFolder(DataSource):
    """Images from a folder: sub-folder names (sorted) are the classes, if there are sub-folders."""

    Params = ImageFolderParams
    params: ImageFolderParams  # the validated section, narrowed from the interface

    def _size(self, first: Path) -> tuple[int, int]:
        size = self.params.size
        if size is None:
            with _open(first) as image:  # reads the header, not the pixels
                return image.size[1], image.size[0]
        return (size, size) if isinstance(size, int) else tuple(size)  # type: ignore[return-value]

    def describe(self) -> DataInfo:
        paths, labels, classes = _scan(Path(self.params.path), "path")
        return self._info(self._size(paths[0]), classes if labels is not None else None)

    def _info(self, size: tuple[int, int], classes: list[str] | None) -> DataInfo:
        shape = (self.params.channels, *size)
        name = Path(self.params.path).name or "images"
        return DataInfo(shape, None if classes is None else len(classes), name=name)

    def load(self) -> DataBundle:
        p = self.params
        paths, labels, classes = _scan(Path(p.path), "path")
        rng = np.random.default_rng(p.split_seed)
        # a seeded order, so that max_train / max_test take examples of every class
        order = rng.permutation(len(paths)).tolist()
        if p.test_dir is None:
            n_test = max(1, round(len(paths) * p.test_fraction))
            train, test = order[n_test:], order[:n_test]
            test_paths, test_labels = paths, labels
        else:
            train = order
            test_paths, test_labels, test_classes = _scan(Path(p.test_dir), "test_dir")
            if test_classes != classes:
                raise DataError(
                    f"data.test_dir: {p.test_dir} has classes {test_classes} but {p.path} has "
                    f"{classes}; give both folders the same class sub-folders"
                )
            test = rng.permutation(len(test_paths)).tolist()
        size = self._size(paths[0])
        info = self._info(size, classes if labels is not None else None)
        return DataBundle(
            Split(self._files(paths, labels, train, size)),
            Split(self._files(test_paths, test_labels, test, size)),
            info,
        )

    def _files(
        self, paths: list[Path], labels: list[int] | None, rows: list[int], size: tuple[int, int]
    ) -> ImageFiles:
        chosen = None if labels is None else [labels[i] for i in rows]
        resize = self.params.size is not None
        return ImageFiles([paths[i] for i in rows], chosen, size, self.params.channels, resize)
