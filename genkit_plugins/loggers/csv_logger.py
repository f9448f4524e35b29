"""Metrics as CSV: one row per evaluation, appended to ``metrics.csv`` in the run directory."""

from __future__ import annotations

import csv
from pathlib import Path

import genkit_core
from genkit_core import Logger, Params

__all__ = ["CSVLogger"]


class CSVLogger(Logger):
    """Appends each row to ``RUN_DIR/metrics.csv``; the first row fixes the columns."""

    Params = Params

    def __init__(self, params: genkit_core.Params, run_dir: Path):
        super().__init__(params, run_dir)
        self.path = self.run_dir / "metrics.csv"
        self._columns: list[str] | None = None
        if self.path.exists() and self.path.stat().st_size > 0:
            with self.path.open(newline="") as f:
                self._columns = next(csv.reader(f), None)

    def log(self, metrics: dict[str, float], step: int) -> None:
        new = self._columns is None
        if self._columns is None:
            self._columns = list(metrics)
        with self.path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self._columns, restval="")
            if new:
                writer.writeheader()
            writer.writerow({k: v for k, v in metrics.items() if k in self._columns})
