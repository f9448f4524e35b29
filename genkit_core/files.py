"""Safe file handling: atomic writes and safetensors reading with clear errors.

Every file genkit writes goes through :func:`atomic_write`: the bytes go to a temporary file in
the same directory, are fsynced, and replace the target with ``os.replace``, so a process
killed at any moment (``kill -9`` included) leaves either the old file or the new one.
Weights are read only from safetensors: no pickle.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as save_safetensors_bytes

from .errors import RunError

__all__ = [
    "atomic_write",
    "atomic_write_with",
    "content_hash",
    "read_metadata",
    "read_tensors",
    "write_tensors",
]


def atomic_write(path: str | Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably (temp file, fsync, rename)."""
    atomic_write_with(path, lambda tmp: tmp.write_bytes(data))


def atomic_write_with(path: str | Path, write: Callable[[Path], Any]) -> None:
    """Let ``write(tmp_path)`` produce the file, then move it onto ``path`` atomically.

    Raises:
        RunError: the file cannot be written (a full disk, no permission); ``path`` is intact.
    """
    path = Path(path)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _cannot_write(path, exc) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes files private; follow the umask instead
        with tmp.open("rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _cannot_write(path, exc) from None
        raise
    _fsync_dir(path.parent)


def _cannot_write(path: Path, exc: OSError) -> RunError:
    previous = "the previous file is intact" if path.exists() else "nothing was written"
    return RunError(
        f"{path}: cannot write it ({exc.strerror or exc}); {previous}. "
        "Free some space or fix the permissions"
    )


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # directories cannot be opened on some platforms
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


_HASH = "genkit_sha256"
"""The header key of the content hash (:func:`content_hash`) of the tensors in the file."""


def write_tensors(
    path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, Any] | None = None
) -> None:
    """Save tensors to a safetensors file atomically; ``metadata`` is stored as JSON text, and
    the tensors' :func:`content_hash` beside it, so that damage is found when it is read.
    """
    contiguous = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    header = {"genkit": json.dumps(metadata or {}), _HASH: content_hash(contiguous)}
    atomic_write(path, save_safetensors_bytes(contiguous, metadata=header))


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata of a safetensors file written by :func:`write_tensors`, without reading (or
    checking) its tensors.

    Raises:
        RunError: the file is missing, or its header is unreadable.
    """
    return _read(path, tensors=False)[1]


def content_hash(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 of the tensors' names, dtypes, shapes and bytes, in name order (hex).

    Any changed byte of a tensor changes it; the file's layout (header padding, the order in
    which safetensors stores the tensors) does not.
    """
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().to("cpu").contiguous()
        digest.update(f"{name}\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().data)
    return digest.hexdigest()


def read_tensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a safetensors file written by :func:`write_tensors`: its tensors and metadata.

    The tensors are checked against the hash recorded when the file was written; a file
    written before genkit recorded one (genkit 0.1.0) has none and is read as it is.

    Raises:
        RunError: the file is missing, truncated, corrupt, its tensors do not match their
            hash, or it is not a genkit safetensors file.
    """
    return _read(path, tensors=True)


def _read(path: str | Path, tensors: bool) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise RunError(f"{path}: no such file")
    try:
        with safe_open(path, framework="pt") as f:
            header = f.metadata() or {}
            metadata = json.loads(header.get("genkit", "{}"))
            read = {key: f.get_tensor(key) for key in f.keys()} if tensors else {}  # noqa: SIM118
    except (SafetensorError, ValueError, OSError) as exc:
        raise RunError(
            f"{path}: not a readable safetensors file (truncated or corrupt: {exc}); "
            "restore it from a backup or train again"
        ) from None
    if tensors and _HASH in header and header[_HASH] != content_hash(read):
        raise RunError(
            f"{path}: its tensors do not match the hash genkit recorded when it wrote the file "
            "(damaged on disk, or edited); restore it from a backup or train again"
        )
    return read, metadata
