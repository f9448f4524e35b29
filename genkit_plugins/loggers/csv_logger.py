"""Metrics as CSV: one row per epoch, appended to ``metrics.csv`` in the run directory."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import genkit_core
from genkit_core import Logger, Params
from genkit_core.files import append_text, atomic_write, read_small_file
from genkit_core.record import MAX_RECORD_BYTES

__all__ = ["CSVLogger"]


class CSVLogger(Logger):
    """Appends each row to ``RUN_DIR/metrics.csv``; the first row fixes the columns.

    Each row (with the header, for the first) is written whole in one call, and a write that
    fails (a full disk) leaves the file as it was: never a torn row. A resumed run drops the
    rows of epochs its checkpoint had not finished (and a torn last row of an older genkit).
    """

    Params = Params

    def __init__(self, params: genkit_core.Params, run_dir: Path):
        super().__init__(params, run_dir)
        self.path = self.run_dir / "metrics.csv"
        self._columns: list[str] | None = None

    def start(self, spec: dict[str, Any], resumed_epoch: int | None) -> None:
        if resumed_epoch is None:
            self.path.unlink(missing_ok=True)  # a new run: an earlier run's rows go
            return
        if not self.path.is_file():
            return
        rows = _whole_rows(read_small_file(self.path, MAX_RECORD_BYTES))
        kept = rows
        if rows and "epoch" in rows[0]:
            column = rows[0].index("epoch")
            kept = [rows[0], *(row for row in rows[1:] if not _after(row, column, resumed_epoch))]
        text = io.StringIO()
        csv.writer(text).writerows(kept)
        if text.getvalue().encode() != self.path.read_bytes():
            atomic_write(self.path, text.getvalue().encode())
        self._columns = kept[0] if kept else None

    def log(self, metrics: dict[str, float], step: int) -> None:
        columns = self._columns if self._columns is not None else list(metrics)
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=columns, restval="")
        if self._columns is None:
            writer.writeheader()
        writer.writerow({k: v for k, v in metrics.items() if k in columns})
        append_text(self.path, text.getvalue())
        self._columns = columns


def _whole_rows(data: bytes) -> list[list[str]]:
    """The CSV rows of ``data`` that end with a line end (a torn last row is no row)."""
    whole = data[: data.rfind(b"\n") + 1]
    return list(csv.reader(io.StringIO(whole.decode(errors="replace"), newline="")))


def _after(row: list[str], column: int, epochs_done: int) -> bool:
    try:
        return float(row[column]) > epochs_done
    except (IndexError, ValueError):
        return False
