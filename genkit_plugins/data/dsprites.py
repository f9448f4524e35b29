r"""dSprites (Matthey et al. 2017): 2D shapes of six known factors, generated from the definition.

White shapes on black, 64x64, binary. The factors, in DeepMind's order (``latents_classes``,
the last varying fastest):

=============  =====  ==========================================================
factor         size   values (``latents_values``)
=============  =====  ==========================================================
color          1      1.0 (white)
shape          3      1.0 square, 2.0 ellipse, 3.0 heart
scale          6      ``linspace(0.5, 1, 6)``
orientation    40     ``linspace(0, 2 pi, 40)`` (both ends, as DeepMind's file)
posX           32     ``linspace(0, 1, 32)``
posY           32     ``linspace(0, 1, 32)``
=============  =====  ==========================================================

Every combination appears once: 737,280 images, image ``i`` having the classes of ``i`` written
in the mixed radix of the sizes. A pixel is white when its centre lies inside the shape. In
units of ``R = 0.2 * 64 * scale`` pixels, the square's half side is 0.78 (10 pixels at scale 1,
so that no two scales draw the same square), the ellipse's half axes are 1 and 0.5, and the
heart, ``(x^2 + y^2 - 1)^3 <= x^2 y^3`` about its centroid, reaches 1. The centre sits
``64 * (0.25 + 0.5 * pos)`` pixels from the left (posX) and from the top (posY); orientation
turns the shape counter-clockwise as seen. The images are generated once, bit-packed into
``root/dsprites/`` (377 MB), and memory-mapped afterwards. With ``path:`` the images come from
DeepMind's ``dsprites_ndarray_*.npz`` instead (arrays ``imgs``, ``latents_classes``,
``latents_values``).

The source is also :class:`~genkit_core.GroundTruthData`: metrics draw images by their factors
with :meth:`DSprites.sample_observations_from_factors`, over the five factors that vary.
"""

from __future__ import annotations

import math
import zipfile
from functools import cached_property
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
from pydantic import Field
from torch import Tensor

from genkit_core import DataBundle, DataError, DataInfo, DataParams, DataSource, Split
from genkit_core.files import atomic_write_with

from ._arrays import open_npz

__all__ = [
    "FACTOR_NAMES",
    "FACTOR_SIZES",
    "DSprites",
    "DSpritesParams",
    "latents_values_table",
    "render",
    "render_packed",
]

SIZE = 64
FACTOR_NAMES = ("color", "shape", "scale", "orientation", "posX", "posY")
FACTOR_SIZES = (1, 3, 6, 40, 32, 32)
_CHUNK = 16384  # images packed at a time when reading DeepMind's file
_VERSION = 1  # bump when the pictures change, so an old cache is not read as the new one
_HEART_CENTRE, _HEART_RADIUS = 0.2935, 1.2932  # area centroid and farthest point of the curve
_SQUARE_HALF_SIDE = 0.78125  # 10 pixels at scale 1: each scale step widens it by 2 pixels
_REACH = math.sqrt(2) * _SQUARE_HALF_SIDE  # the farthest any shape reaches, in units of R


def latents_values_table() -> list[np.ndarray]:
    """Each factor's values, indexed by its class (DeepMind's ``latents_possible_values``)."""
    return [
        np.array([1.0]),
        np.array([1.0, 2.0, 3.0]),
        np.linspace(0.5, 1.0, 6),
        np.linspace(0.0, 2 * np.pi, 40),
        np.linspace(0.0, 1.0, 32),
        np.linspace(0.0, 1.0, 32),
    ]


class DSpritesParams(DataParams):
    """Where the images come from and how they are split."""

    root: str = Field(
        "data",
        description="The folder the generated images are cached in (under dsprites/), "
        "relative to the current directory.",
    )
    cache: str | None = Field(
        None,
        description="The cache file itself (a .npy of bit-packed images); null puts it under root.",
    )
    path: str | None = Field(
        None,
        description="DeepMind's dsprites_ndarray_*.npz (arrays imgs, latents_classes, "
        "latents_values) to read instead of generating the images (root and cache are then "
        "unused).",
        examples=["data/dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"],
    )
    test_fraction: Annotated[float, Field(gt=0, lt=1)] = Field(
        0.1, description="The fraction of the images held out as the test split."
    )
    split_seed: Annotated[int, Field(ge=0, lt=2**32)] = Field(
        0, description="The seed of the shuffle that splits train from test."
    )


def _inside(shape: int, u: Tensor, v: Tensor) -> Tensor:
    """Whether points ``(u, v)`` (in units of the shape's radius, y up) lie in the shape."""
    if shape == 0:
        return torch.maximum(u.abs(), v.abs()) <= _SQUARE_HALF_SIDE
    if shape == 1:  # an ellipse twice as wide as it is tall
        return u.square() + (2 * v).square() <= 1
    x, y = u * _HEART_RADIUS, v * _HEART_RADIUS + _HEART_CENTRE  # (x^2 + y^2 - 1)^3 <= x^2 y^3
    x2 = x.square()
    return (x2 + y.square() - 1).pow(3) <= x2 * y.pow(3)


def render(shape: int, scale: float, angle: float, pos_x: Tensor, pos_y: Tensor) -> Tensor:
    """The images of one shape, scale and angle at every pair of ``pos_x`` and ``pos_y``.

    Args:
        shape: 0 square, 1 ellipse, 2 heart.
        scale: the shape's size, 1 the largest.
        angle: counter-clockwise, in radians.
        pos_x: ``(X,)`` horizontal positions in [0, 1].
        pos_y: ``(Y,)`` vertical positions in [0, 1], 0 the top.

    Returns:
        ``(X, Y, 64, 64)`` bool images, white inside the shape.
    """
    packed = render_packed(shape, scale, angle, pos_x, pos_y)
    bits = torch.from_numpy(np.unpackbits(packed, axis=1).astype(bool))
    return bits.view(len(pos_x), len(pos_y), SIZE, SIZE)


def render_packed(
    shape: int, scale: float, angle: float, pos_x: Tensor, pos_y: Tensor
) -> np.ndarray:
    """:func:`render`'s images bit-packed as ``np.packbits`` packs them: ``(X * Y, 512)`` uint8.

    Only a window around each centre that holds the whole shape is tested (a tenth of the
    pixels on average), and each image row is assembled as one 64-bit integer, so no
    full-size image is ever made.
    """
    radius = 0.2 * SIZE * scale
    width = math.ceil(2 * _REACH * radius) + 2  # every pixel centre any shape can cover
    cx, cy = (SIZE * (0.25 + 0.5 * p.double()) for p in (pos_x, pos_y))
    col0, row0 = (
        torch.floor(c - _REACH * radius - 0.5).long().clamp(0, SIZE - width) for c in (cx, cy)
    )
    cols = col0[:, None] + torch.arange(width)  # (X, W): the window's pixel columns
    rows = row0[:, None] + torch.arange(width)  # (Y, W)
    dx = ((cols + 0.5 - cx[:, None]) / radius).float()
    up = ((cy[:, None] - rows - 0.5) / radius).float()  # y up, so counter-clockwise is as seen
    cos, sin = math.cos(angle), math.sin(angle)
    u = (cos * dx)[:, None, None, :] + (sin * up)[None, :, :, None]  # rotated back by angle
    v = (-sin * dx)[:, None, None, :] + (cos * up)[None, :, :, None]
    inside = _inside(shape, u, v)  # (X, Y, W rows, W cols)
    # column c of a row is bit 63 - c of the row read as a big-endian 64-bit integer
    bit = 2 ** (SIZE - 1 - cols)  # (X, W)
    row_bits = (inside.long() * bit[:, None, None, :]).sum(-1)  # (X, Y, W)
    image_rows = torch.zeros(len(cx), len(cy), SIZE, dtype=torch.int64)
    image_rows.scatter_(2, rows[None].expand(len(cx), -1, -1), row_bits)
    packed = image_rows.numpy().astype(">u8").view(np.uint8)
    return packed.reshape(len(cx) * len(cy), SIZE * SIZE // 8)


def _generate(path: Path, values: list[np.ndarray]) -> None:
    """Render every combination of ``values`` into ``path``, bit-packed, ``(N, 512)`` uint8.

    One (shape, scale, angle) at a time: all its positions make one block of rows, so memory
    stays at one block besides the memory-mapped output.
    """
    sizes = [len(v) for v in values]
    block = sizes[4] * sizes[5]
    shape = (math.prod(sizes), SIZE * SIZE // 8)
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape)
    pos_x, pos_y = torch.from_numpy(values[4]), torch.from_numpy(values[5])
    start, threads = 0, torch.get_num_threads()
    torch.set_num_threads(1)  # the tensors are small: threads would mostly wait for each other
    try:
        for shape_class in range(sizes[1]):
            for scale in values[2]:
                for angle in values[3]:
                    out[start : start + block] = render_packed(
                        shape_class, float(scale), float(angle), pos_x, pos_y
                    )
                    start += block
        out.flush()
    finally:
        torch.set_num_threads(threads)
        del out


class DSprites(DataSource):
    """dSprites, generated (or read from DeepMind's file), split by a seeded shuffle.

    ``max_train`` and ``max_test`` are applied while loading: only the images kept are unpacked,
    so a quick run on a few thousand images costs megabytes, not the 3 GB of the whole set.
    """

    Params = DSpritesParams
    params: DSpritesParams  # the validated section, narrowed from the interface

    def describe(self) -> DataInfo:
        return DataInfo(shape=(1, SIZE, SIZE), name="dsprites")

    # -- the images --------------------------------------------------------------------------

    @cached_property
    def _file(self) -> _Images:
        p = self.params
        if p.path is not None:
            return _Images.from_npz(Path(p.path))
        cache = (
            Path(p.cache) if p.cache else Path(p.root) / "dsprites" / f"generated_v{_VERSION}.npy"
        )
        return _Images.from_cache(cache, latents_values_table())

    @property
    def factor_sizes_all(self) -> tuple[int, ...]:
        """The sizes of all six factors (color first)."""
        return self._file.sizes

    def images(self, index: np.ndarray) -> Tensor:
        """``(len(index), 1, 64, 64)`` ``uint8`` images (0 or 255) with these dataset indices."""
        return self._file.unpack(index)

    def latents_classes(self, index: np.ndarray) -> np.ndarray:
        """``(len(index), 6)`` int64: each image's class of each factor (DeepMind's array)."""
        return np.stack(np.unravel_index(np.asarray(index), self._file.sizes), axis=1)

    def latents_values(self, index: np.ndarray) -> np.ndarray:
        """``(len(index), 6)`` float64: each image's value of each factor (DeepMind's array)."""
        classes = self.latents_classes(index)
        return np.stack([v[classes[:, k]] for k, v in enumerate(self._file.values)], axis=1)

    def split_indices(self) -> tuple[np.ndarray, np.ndarray]:
        """The dataset indices of the train and the test split, as :meth:`load` returns them."""
        p = self.params
        n = math.prod(self._file.sizes)
        order = np.random.default_rng(p.split_seed).permutation(n)
        n_test = round(n * p.test_fraction)
        if not 0 < n_test < n:
            raise DataError(
                f"data.test_fraction: {p.test_fraction} holds out {n_test} of the {n} images, "
                "leaving a split empty; choose a fraction that keeps at least one image in each"
            )
        test, train = order[:n_test], order[n_test:]
        return np.sort(train[: p.max_train]), np.sort(test[: p.max_test])

    def load(self) -> DataBundle:
        train, test = self.split_indices()
        info = self.describe()
        return DataBundle(Split(self.images(train)), Split(self.images(test)), info)

    # -- GroundTruthData: the five factors that vary -----------------------------------------

    @property
    def factor_names(self) -> tuple[str, ...]:
        return tuple(n for n, s in zip(FACTOR_NAMES, self._file.sizes, strict=True) if s > 1)

    @property
    def factor_sizes(self) -> tuple[int, ...]:
        return tuple(s for s in self._file.sizes if s > 1)

    def sample_factors(self, num: int, random_state: np.random.Generator) -> np.ndarray:
        """``(num, K)`` classes of the varying factors, each uniform."""
        return np.stack([random_state.integers(s, size=num) for s in self.factor_sizes], axis=1)

    def sample_observations_from_factors(
        self, factors: np.ndarray, random_state: np.random.Generator
    ) -> Tensor:
        """``(num, 1, 64, 64)`` images with these classes of the varying factors."""
        varying = [k for k, s in enumerate(self._file.sizes) if s > 1]
        classes = np.zeros((len(factors), len(self._file.sizes)), dtype=np.int64)
        classes[:, varying] = factors
        return self.images(np.ravel_multi_index(tuple(classes.T), self._file.sizes))


class _Images:
    """The bit-packed images (memory-mapped, or in memory) with their factor sizes and values."""

    def __init__(self, packed: np.ndarray, sizes: tuple[int, ...], values: list[np.ndarray]):
        self.packed, self.sizes, self.values = packed, sizes, values

    def unpack(self, index: np.ndarray) -> Tensor:
        bits = np.unpackbits(self.packed[np.asarray(index)], axis=1)
        return torch.from_numpy(bits).mul_(255).view(-1, 1, SIZE, SIZE)

    @classmethod
    def from_cache(cls, cache: Path, values: list[np.ndarray]) -> _Images:
        """The images of every combination of ``values``, generated into ``cache`` if not there."""
        sizes = tuple(len(v) for v in values)
        if cache.exists() and not cache.is_file():
            raise DataError(
                f"data.cache: {cache} is a directory, not a file; name the file to keep the "
                f"images in, e.g. {cache / 'dsprites.npy'}"
            )
        packed = _read_cache(cache, math.prod(sizes))
        if packed is None:
            try:
                cache.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DataError(
                    f"data 'dsprites': cannot create {cache.parent} for the generated images "
                    f"({exc.strerror or exc}); set data.root or data.cache to a writable place"
                ) from None
            atomic_write_with(cache, lambda tmp: _generate(tmp, values))
            packed = _read_cache(cache, math.prod(sizes))
            if packed is None:  # written in full just now, unless something else replaced it
                raise DataError(f"data 'dsprites': {cache} changed while it was being written")
        return cls(packed, sizes, values)

    @classmethod
    def from_npz(cls, path: Path) -> _Images:
        where = f"data.path: {path}"
        if not path.is_file():
            raise DataError(
                f"{where} does not exist (relative paths start at {Path.cwd()}); point it at "
                "DeepMind's dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz, or leave path "
                "null to generate the images"
            )
        names = ("imgs", "latents_classes", "latents_values")
        try:  # metadata, a pickled dict, is never read: nothing is unpickled
            npz = open_npz(path, where, "point it at DeepMind's dsprites_ndarray_*.npz")
            missing = [k for k in names if k not in npz.files]
            if missing:
                raise DataError(
                    f"{where} has no array {missing[0]!r} (it holds {sorted(npz.files)}); "
                    "DeepMind's file holds imgs, latents_classes and latents_values"
                )
            arrays = {k: npz[k] for k in names}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise DataError(f"{where} is not a readable .npz file ({exc})") from None
        return cls(*_check_npz(arrays, where))


def _read_cache(cache: Path, n: int) -> np.ndarray | None:
    """The cached packed images, or None when the file is missing or not a whole cache."""
    try:
        packed = np.load(cache, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if packed.shape != (n, SIZE * SIZE // 8) or packed.dtype != np.uint8:
        return None  # another version's or a cut-off file: generated anew
    return np.asarray(packed)


def _check_npz(
    arrays: dict[str, np.ndarray], where: str
) -> tuple[np.ndarray, tuple[int, ...], list[np.ndarray]]:
    """DeepMind's arrays as packed images in the full-factorial order, sizes and values."""
    imgs, classes, values = arrays["imgs"], arrays["latents_classes"], arrays["latents_values"]
    n = len(imgs)
    if imgs.shape[1:] != (SIZE, SIZE) or classes.shape != (n, 6) or values.shape != (n, 6):
        raise DataError(
            f"{where}: expected imgs (N, 64, 64), latents_classes and latents_values (N, 6), "
            f"got {imgs.shape}, {classes.shape} and {values.shape}"
        )
    sizes = tuple(int(s) for s in classes.max(axis=0) + 1)
    if classes.min() < 0 or math.prod(sizes) != n:
        raise DataError(
            f"{where}: latents_classes do not cover each of the {math.prod(sizes)} factor "
            f"combinations once ({n} images); is it a whole dSprites file?"
        )
    flat = np.ravel_multi_index(tuple(classes.T), sizes)
    if np.bincount(flat, minlength=n).max() > 1:
        raise DataError(f"{where}: latents_classes repeat a combination of factors")
    order = np.empty(n, dtype=np.int64)
    order[flat] = np.arange(n)  # DeepMind's file is in this order already: order is arange
    table = [np.zeros(s) for s in sizes]
    for k in range(6):
        table[k][classes[:, k]] = values[:, k]
    packed = np.empty((n, SIZE * SIZE // 8), dtype=np.uint8)
    for start in range(0, n, _CHUNK):  # in chunks: no 3 GB temporary beside the images
        rows = order[start : start + _CHUNK]
        packed[start : start + len(rows)] = np.packbits(
            imgs[rows].reshape(len(rows), -1) != 0, axis=1
        )
    return packed, sizes, table
