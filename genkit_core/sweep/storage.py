"""The sweep's Optuna storage: a database named by ``--storage`` (refused when its workers
could not share it), or the journal file in DIR, repaired when a crash tore its last line; its
URL shown without the password; errors of its files as one line each.
"""

from __future__ import annotations

import contextlib
import errno
import json
import re
from collections.abc import Iterator
from pathlib import Path

import optuna
from optuna.storages import BaseStorage

from ..errors import RunError

__all__ = [
    "JOURNAL",
    "check_shared",
    "disk_error",
    "open_storage",
    "own_file_errors",
    "repair_journal",
    "show_url",
]

JOURNAL = "study.journal"
"""The default storage: Optuna's journal file in DIR (process-safe through file locks)."""


def open_storage(url: str | None, directory: Path) -> BaseStorage:
    """The storage named by ``url`` (any database URL Optuna supports: ``sqlite:///…``,
    ``postgresql://…``, ``mysql://…``), or the journal file in ``directory``.

    Raises:
        RunError: the database cannot be reached or its driver is not installed.
    """
    from optuna.storages import JournalStorage, RDBStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # genkit reports progress itself
    if url is None:
        return JournalStorage(JournalFileBackend(str(directory / JOURNAL)))
    check_shared(url)
    try:
        return RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
    except ImportError as exc:  # Optuna's, from SQLAlchemy's import of the driver
        missing = exc.__cause__ if isinstance(exc.__cause__, ImportError) else exc
        raise RunError(
            f"--storage {show_url(url)}: its database driver is not installed ({missing}); "
            "for PostgreSQL: pip install 'genkit-lvm[postgres]'"
        ) from None
    except Exception as exc:  # sqlalchemy's errors: a bad URL, a refused connection, no database
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        reason = _without_password(reason, url)
        raise RunError(f"--storage {show_url(url)}: cannot open it ({reason})") from None


def check_shared(url: str) -> None:
    """Refuse a database only one process can see: an in-memory SQLite database lives in the
    process that opens it, so each worker would run the whole sweep into its own.

    Raises:
        RunError: ``sqlite://``, ``sqlite:///:memory:``, a ``mode=memory`` URI.
    """
    if not url.lower().startswith("sqlite"):
        return
    from sqlalchemy.engine import make_url

    try:
        database = make_url(url).database or ""
    except Exception:  # an unparseable URL: RDBStorage says why
        return
    if database in ("", ":memory:") or "mode=memory" in url.lower():
        raise RunError(
            f"--storage {show_url(url)}: an in-memory SQLite database lives in one process, and "
            "the sweep's workers cannot share it; name a file (sqlite:///sweep.db), or leave "
            "--storage out for a journal file in DIR"
        )


def _without_password(text: str, url: str) -> str:
    """``text`` (a driver's error) with no part of the URL's password: a driver that reads
    ``user:s3@cret@host`` as the host ``cret@host`` quotes the password's tail.
    """
    text = text.replace(url, show_url(url))  # SQLAlchemy quotes a URL it cannot parse
    userinfo = url.partition("://")[2].rpartition("@")[0]
    password = userinfo.partition(":")[2]
    pieces = [password, *re.split(r"[@:/?#]", password)]
    for piece in sorted({p for p in pieces if len(p) >= 3}, key=len, reverse=True):
        text = text.replace(piece, "***")
    return text


def show_url(url: str) -> str:
    """``url`` with its password hidden, fit to print: everything between ``user:`` and the
    last ``@``, as a password may hold an unencoded ``@``, ``:``, ``/`` or ``?`` (SQLAlchemy
    reads such passwords). An ``@`` in the query hides the host too: never the password.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    userinfo, at, _ = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}://{user}:***@{rest[len(userinfo) + 1 :]}"


def repair_journal(path: Path) -> str | None:
    """Drop the last line of the journal file when a crash tore it (Optuna reads past a torn
    last line, but its next write would follow it and damage the file); what was dropped.

    Raises:
        RunError: a line before the last is damaged: genkit cannot tell what the file holds.
    """
    from optuna.storages.journal import JournalFileSymlinkLock

    if not path.is_file():
        return None
    lock = JournalFileSymlinkLock(str(path))  # Optuna's own lock on its writes
    lock.acquire()
    try:
        with path.open("rb+") as f:
            lines = f.read().splitlines(keepends=True)
            bad = next((i for i, line in enumerate(lines) if not _is_record(line)), None)
            if bad is None:
                return None
            if bad < len(lines) - 1:
                raise RunError(
                    f"{path}: line {bad + 1} of {len(lines)} is damaged (not one of Optuna's "
                    "records), so which trials ran is unknown; restore the file from a backup, "
                    "or run the sweep into another -o"
                )
            f.truncate(sum(map(len, lines[:bad])))
    finally:
        lock.release()
    return (
        f"dropped the last line of {path} ({len(lines[bad])} bytes, torn by a crash while it "
        "was written); its trial, if any, runs again"
    )


def _is_record(line: bytes) -> bool:
    if not line.endswith(b"\n"):
        return False
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:  # not JSON, or not UTF-8
        return False


@contextlib.contextmanager
def own_file_errors(directory: Path) -> Iterator[None]:
    """Turn errors of the sweep's own files (the journal on a full disk, a journal damaged while
    the sweep runs) into one line each, with the fix.
    """
    try:
        yield
    except OSError as exc:
        raise disk_error(exc, directory) from None
    except ValueError as exc:  # json's JSONDecodeError, or "Invalid log format." from Optuna
        if not isinstance(exc, json.JSONDecodeError) and "log format" not in str(exc):
            raise
        raise RunError(
            f"{directory / JOURNAL}: damaged ({exc}); restore it from a backup, or run the "
            "sweep into another -o"
        ) from None


def disk_error(exc: OSError, directory: Path) -> RunError:
    """An error of the sweep's own files (Optuna's journal, a lock) as one line and its fix."""
    where = exc.filename or directory
    fix = "free some space on its disk" if exc.errno == errno.ENOSPC else "check the disk"
    return RunError(f"{where}: {exc.strerror or exc}; {fix}, then run the same command again")
