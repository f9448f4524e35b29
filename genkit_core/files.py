"""Safe file handling: atomic writes and safetensors reading with clear errors.

Every file genkit writes goes through :func:`atomic_write`: the bytes go to a temporary file in
the same directory, are fsynced, and replace the target with ``os.replace``, so a process
killed at any moment (``kill -9`` included) leaves either the old file or the new one.
Weights are read only from safetensors: no pickle.

Inside :meth:`BackgroundWriter.deferring` the same writes happen on a background thread, so
training does not wait for the disk; what is written is fixed when the write is asked for.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import math
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from pathlib import Path
from typing import IO, Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as save_safetensors_bytes

from .errors import RunError, with_article

__all__ = [
    "SMALL_FILE_LIMIT",
    "BackgroundWriter",
    "append_text",
    "atomic_write",
    "atomic_write_with",
    "cannot_write",
    "content_hash",
    "path_error",
    "read_metadata",
    "read_small_file",
    "read_tensors",
    "write_tensors",
]

SMALL_FILE_LIMIT = 16 << 20
"""The most bytes :func:`read_small_file` reads: a run's ``eval.json`` and ``metrics.csv`` are
kilobytes (a metrics row per epoch), so 16 MiB is far beyond any genkit wrote."""


def atomic_write(path: str | Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically and durably (temp file, fsync, rename)."""
    atomic_write_with(path, lambda tmp: tmp.write_bytes(data), need=len(data))


def atomic_write_with(
    path: str | Path, write: Callable[[Path], Any], need: int | None = None
) -> None:
    """Let ``write(tmp_path)`` produce the file, then move it onto ``path`` atomically.

    Inside :meth:`BackgroundWriter.deferring` this returns at once and the write happens on the
    writer's thread; ``write`` must then use only data that nothing changes afterwards.

    ``need``, the file's size where it is known, goes into the message of a full disk.

    Raises:
        RunError: the file cannot be written (a full disk, no permission); ``path`` is intact.
    """
    path = Path(path)
    writer = _DEFERRING.get()
    if writer is not None:
        writer.submit(path, lambda: _write_now(path, write, need))
    else:
        _write_now(path, write, need)


def _write_now(path: Path, write: Callable[[Path], Any], need: int | None) -> None:
    _refuse_special(path)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise cannot_write(path, exc, need) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes files private; follow the umask instead
        with tmp.open("rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):  # the write's own error is the one to report
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise cannot_write(path, exc, need) from None
        raise
    _fsync_dir(path.parent)


def append_text(path: str | Path, text: str) -> None:
    """Append ``text`` (whole lines) to ``path`` in one write; on failure cut the file back to
    its length before, so that it never ends in a torn line.

    Raises:
        RunError: the text cannot be written (a full disk, no permission); the file is as it was.
    """
    path, data = Path(path), text.encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError as exc:
        raise cannot_write(path, exc, len(data)) from None
    try:
        size = os.fstat(fd).st_size
        rest = memoryview(data)
        while rest:  # a full disk may take part of a write before it refuses the rest
            rest = rest[os.write(fd, rest) :]
    except OSError as exc:
        with suppress(OSError):  # what the OS says about the write is the error to report
            os.ftruncate(fd, size)
        raise cannot_write(path, exc, len(data)) from None
    finally:
        os.close(fd)


def cannot_write(path: Path, exc: OSError, need: int | None = None) -> RunError:
    """The one-line error for a file that could not be written: what the OS said, whether the
    previous file is intact, and what to do: on a full disk the room left and the ``need``
    bytes the file wanted (where known), for a path the user gave what is wrong with it.
    """
    previous = "the previous file is intact" if _exists(path) else "nothing was written"
    if exc.errno == errno.ENOSPC:
        try:
            free = f"{_size(shutil.disk_usage(path.parent).free)} free"
        except OSError:
            free = "no room"
        wanted = f" and it needs {_size(need)}" if need else ""
        fix = f". Its disk has {free}{wanted}: free some space"
    elif exc.errno == errno.ENOENT and not path.parent.is_dir():
        fix = "; its folder does not exist; create it first"
    else:
        fix = "; " + _PATH_PROBLEMS.get(exc.errno or -1, "free some space or fix the permissions")
    return RunError(
        f"{_shown_path(path)}: cannot write it ({exc.strerror or exc}); {previous}{fix}"
    )


def _size(n: int) -> str:
    """``n`` bytes for a person: ``512 bytes``, ``3.2 KiB``, ``1.5 GiB``."""
    if n < 1024:
        return f"{n} bytes"
    units = ("KiB", "MiB", "GiB", "TiB")
    exponent = min(len(units), int(math.log(n, 1024)))
    return f"{n / 1024**exponent:.1f} {units[exponent - 1]}"


def _refuse_special(path: Path) -> None:
    """Refuse to replace a device, a pipe or a directory: the rename would succeed (as root,
    ``-o /dev/full`` replaced the device with a PNG).
    """
    try:
        mode = os.lstat(path).st_mode
        if stat.S_ISLNK(mode):  # -o /dev/stdout: a link to a device would be replaced
            mode = os.stat(path).st_mode
    except OSError:
        return  # nothing there yet, or unreachable: the write itself says why
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "a device or a pipe"
        raise RunError(
            f"{_shown_path(path)}: exists and is {kind}, not a file; choose another path"
        )


_PATH_PROBLEMS = {
    errno.ENAMETOOLONG: "a name in it is longer than the file system allows (255 bytes); "
    "choose a shorter name",
    errno.ENOTDIR: "a part of it is a file, not a folder; choose another path",
    errno.EACCES: "permission denied; fix the permissions or choose another path",
    errno.EPERM: "operation not permitted; fix the permissions or choose another path",
    errno.EROFS: "it is on a read-only file system; choose another path",
    errno.ELOOP: "too many levels of symbolic links (a loop?); choose another path",
    errno.ENOENT: "no such file or folder; check the path",
}
"""The errors of a path a user gave that are theirs to fix, and what to do."""


def path_error(
    exc: OSError, path: str | Path | None = None, doing: str | None = None
) -> RunError | None:
    """The one-line :class:`RunError` for an ``OSError`` about a path the user gave (a name too
    long, a parent that is a file, no permission, a read-only file system, a missing folder),
    naming the path; None for other errors, which are genkit's bugs or the machine's.

    ``path`` defaults to the file the error names; ``doing`` says what failed (``cannot write
    the run directory``). The command line turns every such error that reaches it into this
    line, wherever the path was first touched.
    """
    hint = _PATH_PROBLEMS.get(exc.errno or -1)
    where = path if path is not None else exc.filename
    if hint is None or where is None:
        return None
    if doing:
        return RunError(f"{_shown_path(where)}: {doing} ({exc.strerror}); {hint}")
    return RunError(f"{_shown_path(where)}: {hint}")


def _shown_path(path: str | Path | bytes) -> str:
    """``path`` for a message: a name of 4,000 bytes is cut in its middle."""
    text = os.fsdecode(path)
    return text if len(text) <= 200 else f"{text[:100]}...{text[-97:]}"


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:
        return False


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
_METADATA_HASH = "genkit_metadata_sha256"
"""The header key of the SHA-256 of the metadata's JSON text (older files have none)."""


def write_tensors(
    path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, Any] | None = None
) -> None:
    """Save tensors to a safetensors file atomically; ``metadata`` is stored as JSON text, and
    the tensors' :func:`content_hash` and the text's SHA-256 beside it, so that damage to
    either is found when it is read.

    Under a :class:`BackgroundWriter` the tensors are copied now and hashed, serialised and
    written on the writer's thread, so training may change them at once.
    """
    deferred = _DEFERRING.get() is not None
    snapshot = {k: v.detach().to("cpu", copy=deferred).contiguous() for k, v in tensors.items()}
    text = json.dumps(metadata or {})

    def write(tmp: Path) -> None:
        header = {"genkit": text, _HASH: content_hash(snapshot), _METADATA_HASH: _sha256(text)}
        tmp.write_bytes(save_safetensors_bytes(snapshot, metadata=header))

    atomic_write_with(path, write, need=sum(t.nbytes for t in snapshot.values()))


def read_small_file(path: str | Path, limit: int = SMALL_FILE_LIMIT) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes.

    Anything else in its place (a FIFO, which would wait for a writer forever; a character
    device such as ``/dev/zero``, which never ends; a directory or a socket) is refused without
    reading it, as is a file over the limit, so a foreign file cannot hang or exhaust memory.

    Raises:
        RunError: naming the file and why it was not read.
    """
    path = Path(path)
    try:  # without O_NONBLOCK, opening a FIFO waits for a writer
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        error = path_error(exc, path, "cannot read it")
        raise error or RunError(f"{_shown_path(path)}: cannot read it ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = _file_kind(info.st_mode)
            raise RunError(f"{_shown_path(path)}: not a regular file (a {kind}); not read")
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(limit + 1) if info.st_size <= limit else b""
    finally:
        os.close(fd)
    if info.st_size > limit or len(data) > limit:
        size, most = _size(max(info.st_size, len(data))), _size(limit)
        if size == most:  # just over the limit: say it in bytes
            size, most = f"{max(info.st_size, len(data)):,} bytes", f"{limit:,} bytes"
        raise RunError(
            f"{_shown_path(path)}: {size}, larger than the {most} genkit writes there; not read "
            "(move it away)"
        )
    return data


def _file_kind(mode: int) -> str:
    kinds = {stat.S_ISFIFO: "FIFO", stat.S_ISCHR: "character device", stat.S_ISBLK: "block device",
             stat.S_ISDIR: "directory", stat.S_ISSOCK: "socket"}  # fmt: skip
    return next((name for test, name in kinds.items() if test(mode)), "special file")


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata of a safetensors file written by :func:`write_tensors`, checked against its
    hash, without reading (or checking) its tensors.

    Raises:
        RunError: the file is missing, its header is unreadable, or its metadata is not a
            mapping or does not match its hash.
    """
    return _read(path, tensors=False)[1]


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


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

    The tensors and the metadata are checked against the hashes recorded when the file was
    written; a file written before genkit recorded them has none (the legacy runs of genkit
    0.1.0), or only the tensors' (before the metadata was hashed), and is read as it is.

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
            text = header.get("genkit", "{}")
            metadata = json.loads(text)
            read = {key: f.get_tensor(key) for key in f.keys()} if tensors else {}  # noqa: SIM118
    except (SafetensorError, ValueError, OSError, RecursionError) as exc:
        detail = str(exc) if len(str(exc)) <= 200 else f"{str(exc)[:197]}..."
        raise RunError(
            f"{path}: not a readable safetensors file (truncated or corrupt: {detail}); "
            "restore it from a backup or train again"
        ) from None
    if _METADATA_HASH in header and header[_METADATA_HASH] != _sha256(text):
        raise RunError(
            f"{path}: its metadata does not match the hash genkit recorded when it wrote the "
            "file (edited, or damaged on disk); restore it from a backup or train again"
        )
    if not isinstance(metadata, dict):
        raise RunError(
            f"{path}: its genkit metadata is {with_article(type(metadata).__name__)}, not a "
            "mapping; the file was edited or not written by genkit"
        )
    if tensors and _HASH in header and header[_HASH] != content_hash(read):
        raise RunError(
            f"{path}: its tensors do not match the hash genkit recorded when it wrote the file "
            "(damaged on disk, or edited); restore it from a backup or train again"
        )
    return read, metadata


_DEFERRING: ContextVar[BackgroundWriter | None] = ContextVar("genkit_deferring", default=None)


class BackgroundWriter:
    """Atomic writes on one background thread, so that training does not wait for the disk.

    At most one write of each file is pending: a second write of the same file first waits for
    the previous one, so memory holds at most one copy of each file. Writes happen in the order
    they were asked for, each atomically (:func:`atomic_write_with`). A failed write raises its
    :class:`RunError` in the asking thread, at the next write asked for or at :meth:`wait`;
    leaving the ``with`` block waits for every write.
    """

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="genkit-writer")
        self._pending: dict[Path, Future[None]] = {}

    def submit(self, path: Path, job: Callable[[], None]) -> None:
        """Run ``job`` (the write of ``path``) on the writer's thread, after its earlier jobs.

        Raises:
            RunError: an earlier write failed.
        """
        self._raise_failed()
        previous = self._pending.pop(path, None)
        if previous is not None:
            previous.result()
        self._pending[path] = self._executor.submit(job)

    @contextmanager
    def deferring(self) -> Iterator[None]:
        """Inside the block, :func:`atomic_write_with` (and so every genkit write in this
        thread) hands its write to this writer instead of doing it.
        """
        token = _DEFERRING.set(self)
        try:
            yield
        finally:
            _DEFERRING.reset(token)

    def wait(self) -> None:
        """Return when every write asked for is on disk.

        Raises:
            RunError: a write failed (the file it would have replaced is intact).
        """
        pending, self._pending = list(self._pending.values()), {}
        errors = [f.exception() for f in pending]
        failed = next((e for e in errors if e is not None), None)
        if failed is not None:
            raise failed

    def _raise_failed(self) -> None:
        if any(f.done() and f.exception() is not None for f in self._pending.values()):
            self.wait()

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.wait()
        finally:
            self._executor.shutdown()


def lock_file(path: Path, wait: bool = True) -> IO[bytes] | None:
    """An exclusive lock on ``path`` (created with its folder), held until the returned file is
    closed or the process ends (the kernel's ``flock``: a killed holder frees it); None when
    another process holds it and ``wait`` is false.

    Raises:
        RunError: the lock file cannot be created (a full disk, no permission), naming it.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = path.open("a+b")
    except OSError as exc:
        raise cannot_lock(path, exc) from None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        lock.close()
        return None
    return lock


def cannot_lock(path: Any, exc: OSError) -> RunError:
    """One line for a lock file that cannot be written: which, why, and what to do."""
    fix = (
        "free some space on its disk"
        if exc.errno == errno.ENOSPC
        else "choose another -o, or fix the permissions"
    )
    return RunError(
        f"{path}: cannot write the lock file ({exc.strerror or exc}); {fix}, then run the same "
        "command again"
    )
