"""A run's own record of its epochs: ``history.jsonl``, one JSON object per epoch row.

The trainer appends every row it hands the loggers (``epoch``, ``step``, ``seconds``, ``lr``,
``train_<term>``, ``test_<term>`` when measured), so sweeps, compare, reports and resume read
the numbers they need from the core, whatever loggers a spec chose (or none). Each row is
written whole in one call (:func:`~genkit_core.files.append_text`), and a row torn by a crash
is dropped on resuming.

Runs written before the record existed kept their rows only in the csv logger's
``metrics.csv``; :func:`read_history` reads that file for them.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Any

from .errors import RunError
from .files import append_text, atomic_write, read_small_file

__all__ = [
    "MAX_RECORD_BYTES",
    "RECORD",
    "append_row",
    "drop_rows_after",
    "has_history",
    "read_history",
]

RECORD = "history.jsonl"
MAX_RECORD_BYTES = 64 << 20
"""The most of a record genkit reads: a row an epoch is far less, even for 100k epochs."""
_LEGACY = "metrics.csv"  # where runs before the record kept their rows (the csv logger's file)

Columns = dict[str, list[float | None]]


def append_row(run_dir: Path, row: dict[str, float]) -> None:
    """Append one epoch's row (non-finite numbers are kept: JSON's ``NaN``, ``Infinity``)."""
    append_text(run_dir / RECORD, json.dumps(row) + "\n")


def drop_rows_after(run_dir: Path, epochs_done: int) -> None:
    """Keep the rows of the first ``epochs_done`` epochs: those the checkpoint a run resumes
    from had finished. A run killed after recording an epoch but before its checkpoint trains
    that epoch's end again. A torn last line (no line end) is dropped too.
    """
    path = run_dir / RECORD
    if not path.is_file():
        return
    data = read_small_file(path, MAX_RECORD_BYTES)
    lines = data[: data.rfind(b"\n") + 1].decode(errors="replace").splitlines(keepends=True)
    kept = [line for line in lines if _epoch(line) <= epochs_done]
    if len(kept) < len(lines) or sum(map(len, lines)) < len(data):
        atomic_write(path, "".join(kept).encode())


def _epoch(line: str) -> float:
    try:
        row = json.loads(line)
        return float(row["epoch"]) if isinstance(row, dict) else math.inf
    except (ValueError, KeyError, TypeError):
        return math.inf  # a damaged line is no row of a finished epoch


def has_history(run_dir: str | Path) -> bool:
    """Whether the run has a record to read (or an older run's ``metrics.csv``)."""
    return any(os.path.lexists(Path(run_dir) / name) for name in (RECORD, _LEGACY))


def read_history(run_dir: str | Path) -> Columns:
    """The run's rows as columns, in epoch order; a value a row lacks is None.

    Values that are not numbers read as None, and a damaged line costs its row, not the file.

    Raises:
        RunError: the run has no record (nor an older run's ``metrics.csv``), no rows yet, or
            a record that is not a regular file of at most :data:`MAX_RECORD_BYTES`.
    """
    run_dir = Path(run_dir)
    if os.path.lexists(run_dir / RECORD):
        rows = _json_rows(read_small_file(run_dir / RECORD, MAX_RECORD_BYTES))
        where = run_dir / RECORD
    elif os.path.lexists(run_dir / _LEGACY):
        rows = _csv_rows(run_dir / _LEGACY)
        where = run_dir / _LEGACY
    else:
        raise RunError(f"{run_dir}: no {RECORD}; the run has not finished an epoch yet")
    if not rows:
        raise RunError(f"{where}: no rows yet; train at least one epoch")
    keys = list(dict.fromkeys(k for row in rows for k in row))
    return {key: [_number(row.get(key)) for row in rows] for key in keys}


def _json_rows(data: bytes) -> list[dict[str, Any]]:
    rows = []
    for line in data.decode("utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict):
            rows.append(row)
    return rows


def _csv_rows(path: Path) -> list[dict[str, Any]]:
    text = read_small_file(path, MAX_RECORD_BYTES).decode("utf-8", errors="replace")
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        return [{k: v for k, v in row.items() if k} for row in reader]
    except csv.Error as exc:
        raise RunError(f"{path}: not a readable CSV file ({exc})") from None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str) and value.strip():
        try:
            return float(value)
        except ValueError:
            return None
    return None
