"""Arrays from a file: a ``.npz`` archive, a ``.pt`` / ``.pth`` dict of tensors, or ``.npy`` files.

The default key names are the Keras ``mnist.npz`` layout (``x_train``, ``y_train``, ``x_test``,
``y_test``). Nothing is ever unpickled: ``.npz`` and ``.npy`` files load with
``allow_pickle=False`` and ``.pt`` files with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import Annotated, Any, Literal, cast

import numpy as np
import torch
from pydantic import Field

from genkit_core import DataBundle, DataError, DataInfo, DataParams, DataSource, Split

from ._arrays import Array, Layout, channels_first, example_shape, label_info, open_npz

__all__ = ["TensorFile", "TensorFileParams"]

_KEYS = ("x_train", "y_train", "x_test", "y_test")
_FORMATS = ".npz, .pt, .pth, or a directory of .npy files"


class TensorFileParams(DataParams):
    """Where the arrays are and what they are called.

    ``path`` is relative to the current directory. A ``y`` key that the file lacks makes the
    data unlabelled when it is the default name (and the run's ``spec.yaml`` records it as
    ``null``, what was used), and is an error when it was set; ``null`` says the data is
    unlabelled. ``mmap`` maps ``.npy`` files (or ``.pt`` files) instead of
    reading them, so data larger than memory can be streamed.
    """

    path: str = Field(
        description="The file (.npz, .pt, .pth) or directory of .npy files, relative to the "
        "current directory.",
        examples=["data/mnist.npz"],
    )
    x_train: str = Field("x_train", description="The name of the training inputs in the file.")
    y_train: str | None = Field(
        "y_train",
        description="The name of the training labels; null (or the default name, when the file "
        "lacks it) makes the data unlabelled.",
    )
    x_test: str = Field("x_test", description="The name of the test inputs in the file.")
    y_test: str | None = Field(
        "y_test", description="The name of the test labels; null as for y_train."
    )
    num_classes: Annotated[int, Field(gt=0)] | None = Field(
        None,
        description="How many classes integer labels have; null takes one more than the largest "
        "label of either split.",
    )
    layout: Layout = Field(
        "auto",
        description="Where the channels of 4-d image arrays are: channels_first (N, C, H, W), "
        "channels_last (N, H, W, C), or auto (the axis, 1 or 3, that has 1, 3 or 4 entries; "
        "channels first when both do).",
    )
    mmap: bool = Field(
        False,
        description="Map .npy (or .pt) files instead of reading them, so data larger than "
        "memory can be streamed.",
    )


class _Reader:
    """The arrays of one file: their names, their shapes (cheaply) and their values."""

    def __init__(self, path: Path, mmap: bool):
        self.path, self.mmap = path, mmap

    def keys(self) -> list[str]:
        raise NotImplementedError

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(self.array(key).shape)

    def array(self, key: str) -> Array:
        raise NotImplementedError


class _Npz(_Reader):
    def __init__(self, path: Path, mmap: bool):
        super().__init__(path, mmap)
        if mmap:
            raise DataError(
                f"{path}: data.mmap needs uncompressed .npy files, and a .npz is a zip archive; "
                "save each array as DIR/<key>.npy (np.save) and set data.path: DIR"
            )
        self.npz = open_npz(path, path, "write it with np.savez(path, x_train=..., x_test=...)")

    def keys(self) -> list[str]:
        return list(self.npz.files)

    def shape(self, key: str) -> tuple[int, ...]:
        with self.npz.zip.open(f"{key}.npy") as member:  # the header only, not the data
            version = np.lib.format.read_magic(member)
            read = {(1, 0): np.lib.format.read_array_header_1_0}
            header = read.get(version, np.lib.format.read_array_header_2_0)(member)
        return tuple(header[0])

    def array(self, key: str) -> Array:
        return torch.from_numpy(self.npz[key])


class _Torch(_Reader):
    def __init__(self, path: Path, mmap: bool):
        super().__init__(path, mmap)
        try:
            self.tensors: Any = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
        except pickle.UnpicklingError as exc:
            raise DataError(
                f"{path} holds Python objects besides tensors, which genkit does not unpickle; "
                "save a dict of tensors: torch.save({'x_train': x, 'y_train': y, ...}, path)"
            ) from exc
        if not isinstance(self.tensors, dict) or not all(
            isinstance(v, torch.Tensor) for v in self.tensors.values()
        ):
            raise DataError(
                f"{path} holds a {type(self.tensors).__name__}, not a dict of tensors; "
                "save one: torch.save({'x_train': x, 'y_train': y, ...}, path)"
            )

    def keys(self) -> list[str]:
        return list(self.tensors)

    def array(self, key: str) -> Array:
        return cast(torch.Tensor, self.tensors[key])  # checked to be a dict of tensors above


class _NpyDirectory(_Reader):
    def keys(self) -> list[str]:
        return sorted(p.stem for p in self.path.glob("*.npy"))

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(np.load(self.path / f"{key}.npy", mmap_mode="r", allow_pickle=False).shape)

    def array(self, key: str) -> Array:
        path = self.path / f"{key}.npy"
        mode: Literal["r"] | None = "r" if self.mmap else None
        values = np.load(path, mmap_mode=mode, allow_pickle=False)
        return values if self.mmap else torch.from_numpy(values)


def _reader(path: Path, mmap: bool) -> _Reader:
    if not path.exists():
        raise DataError(
            f"data.path: {path} does not exist (relative paths start at the current directory, "
            f"{Path.cwd()}); point it at a {_FORMATS}"
        )
    if path.is_dir():
        return _NpyDirectory(path, mmap)
    formats: dict[str, type[_Reader]] = {".npz": _Npz, ".pt": _Torch, ".pth": _Torch}
    if path.suffix not in formats:
        raise DataError(f"data.path: {path} has format '{path.suffix}'; genkit reads {_FORMATS}")
    try:
        return formats[path.suffix](path, mmap)
    except (zipfile.BadZipFile, OSError, RuntimeError, EOFError, ValueError) as exc:
        raise DataError(f"{path} is not a readable {path.suffix} file ({exc}); rewrite it") from exc


class TensorFile(DataSource):
    """Train and test arrays from one file or directory (Keras ``mnist.npz`` names by default).

    Images may be ``(N, H, W)``, ``(N, C, H, W)`` or ``(N, H, W, C)`` (``layout``), vectors
    ``(N, D)``. ``uint8`` stays ``uint8`` (genkit maps it to [0, 1]); floats are used as they are.
    """

    Params = TensorFileParams
    params: TensorFileParams  # the validated section, narrowed from the interface

    def _open(self) -> tuple[_Reader, dict[str, str]]:
        """The file's reader and the keys to read.

        A default ``y`` key the file lacks is left out, and set to None in ``self.params``, so
        the spec genkit records says what was used: unlabelled data.
        """
        p = self.params
        reader = _reader(Path(p.path), p.mmap)
        present, keys, absent = set(reader.keys()), {}, dict[str, None]()
        for field in _KEYS:
            key = getattr(p, field)
            if key is None:
                continue
            if key not in present and field[0] == "y" and field not in p.model_fields_set:
                absent[field] = None
                continue
            if key not in present:
                unlabelled = " (or null: the data is unlabelled)" if field[0] == "y" else ""
                raise DataError(
                    f"{p.path}: no array '{key}' (data.{field}); the file holds "
                    f"{sorted(present)}; set data.{field} to one of them{unlabelled}"
                )
            keys[field] = key
        if absent:
            self.params = p.model_copy(update=absent)
        return reader, keys

    def _where(self) -> str:
        return f"data '{self.params.path}'"

    def describe(self) -> DataInfo:
        reader, keys = self._open()
        shape = example_shape(reader.shape(keys["x_train"]), self.params.layout, self._where())
        return self._info(shape, *(self._labels(reader, keys)))

    def load(self) -> DataBundle:
        reader, keys = self._open()
        x_train, x_test = (
            channels_first(self._read(reader, keys[f]), self.params.layout, self._where())
            for f in ("x_train", "x_test")
        )
        y_train, y_test = self._labels(reader, keys)
        info = self._info(tuple(x_train.shape[1:]), y_train, y_test)
        return DataBundle(Split(x_train, y_train), Split(x_test, y_test), info)

    def _read(self, reader: _Reader, key: str) -> Array:
        try:
            return reader.array(key)
        except ValueError as exc:  # numpy refuses object arrays: they would need pickle
            raise DataError(
                f"{self.params.path}: array '{key}' holds Python objects, which genkit does "
                "not unpickle; save numeric arrays (np.savez(path, x_train=x, ...))"
            ) from exc

    def _labels(self, reader: _Reader, keys: dict[str, str]) -> tuple[Any, Any]:
        return tuple(  # type: ignore[return-value]
            self._read(reader, keys[f]) if f in keys else None for f in ("y_train", "y_test")
        )

    def _info(self, shape: tuple[int, ...], y_train: Any, y_test: Any) -> DataInfo:
        classes, condition = label_info(y_train, y_test, self.params.num_classes, self._where())
        return DataInfo(shape, classes, condition, name=Path(self.params.path).stem)
