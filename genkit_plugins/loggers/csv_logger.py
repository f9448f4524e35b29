"""Metrics as CSV: one row per evaluation, appended to ``metrics.csv`` in the run directory."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import genkit_core
from genkit_core import Logger, Params
from genkit_core.files import append_text

__all__ = ["CSVLogger"]


class CSVLogger(Logger):
    """Appends each row to ``RUN_DIR/metrics.csv``; the first row fixes the columns.

    Each row (with the header, for the first) is written whole in one call, and a write that
    fails (a full disk) leaves the file as it was: never a torn row.
    """

    Params = Params

    def __init__(self, params: genkit_core.Params, run_dir: Path):
        super().__init__(params, run_dir)
        self.path = self.run_dir / "metrics.csv"
        self._columns: list[str] | None = None
        if self.path.exists() and self.path.stat().st_size > 0:
            with self.path.open(newline="") as f:
                self._columns = next(csv.reader(f), None)

    def log(self, metrics: dict[str, float], step: int) -> None:
        columns = self._columns if self._columns is not None else list(metrics)
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=columns, restval="")
        if self._columns is None:
            writer.writeheader()
        writer.writerow({k: v for k, v in metrics.items() if k in columns})
        append_text(self.path, text.getvalue())
        self._columns = columns
