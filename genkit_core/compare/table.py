r"""The comparison table: per configuration, the mean and standard deviation over its runs of
each test metric, as text, CSV and JSON.

For the values :math:`x_1..x_n` of n runs (seeds): mean :math:`\bar x = \frac1n \sum_i x_i` and
the sample standard deviation :math:`s = \sqrt{\frac{1}{n-1} \sum_i (x_i - \bar x)^2}`, which is
undefined (shown as nothing) for one run.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import RunError
from ..sweep.naming import value_labels
from .collect import Configuration, PrunedRun, keys

__all__ = [
    "TITLES", "Row", "Stat", "key_cells", "pruned_text", "rows", "to_csv", "to_json", "to_text",
]  # fmt: skip

TITLES = {
    "negative_elbo": "negative ELBO",
    "reconstruction": "reconstruction",
    "kl": "KL",
    "iw_nll": "IW NLL",
    "active_units": "active units",
    "test_loss": "test loss",
}
"""How the table heads a metric; any other term is headed by its own name."""


@dataclass(frozen=True)
class Stat:
    """Mean and sample standard deviation (None for one value) of n values."""

    mean: float
    std: float | None
    n: int

    @classmethod
    def of(cls, values: list[float]) -> Stat:
        """The statistics of ``values`` (at least one)."""
        n = len(values)
        mean = math.fsum(values) / n
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else None
        return cls(mean, std, n)

    def text(self, digits: int = 2) -> str:
        """``45.81 ± 0.12``, or ``45.81`` for one run."""
        spread = f" ± {self.std:.{digits}f}" if self.std is not None else ""
        return f"{self.mean:.{digits}f}{spread}"


@dataclass(frozen=True)
class Row:
    """One configuration's line of the table."""

    configuration: Configuration
    stats: dict[str, Stat]
    normalized: bool

    @property
    def runs(self) -> int:
        """How many runs (seeds) it averages."""
        return len(self.configuration.runs)


def rows(configurations: list[Configuration], columns: list[str], sort: str | None) -> list[Row]:
    """A row per configuration, best first by ``sort`` (lower is better; ``-col`` reverses), by
    default by the first of IW NLL, negative ELBO and test loss that the runs have.

    A run's value that is not a number (an edited ``eval.json``) counts as missing; one that is
    not finite (a diverged model's NaN) makes its configuration's statistics NaN or infinite,
    shown as such and sorted last.

    Raises:
        RunError: ``sort`` names no column.
    """
    found = []
    for c in configurations:
        stats = {}
        for col in columns:
            values = [float(r.metrics[col]) for r in c.runs if _is_number(r.metrics.get(col))]
            if values:
                stats[col] = Stat.of(values)
        normalized = all(r.metrics.get("normalized", True) for r in c.runs)
        found.append(Row(c, stats, normalized))
    key = sort or next((c for c in ("iw_nll", "negative_elbo", "test_loss") if c in columns), None)
    if key is None:
        return found
    column = key.removeprefix("-")
    if column not in columns:
        raise RunError(f"--sort {key}: no such column; choose one of {', '.join(columns)}")
    sign = -1 if key.startswith("-") else 1

    def order(row: Row) -> tuple[bool, float]:
        stat = row.stats.get(column)
        finite = stat is not None and math.isfinite(stat.mean)
        return (not finite, sign * stat.mean if finite else 0.0)  # type: ignore[union-attr]

    return sorted(found, key=order)


def key_cells(table: list[Row]) -> tuple[list[str], list[list[str]]]:
    """The keys in which the configurations differ (a column each), and each row's values in
    them: a section by its ``type`` (and its other fields where two share one), ``-`` where a
    configuration's spec has no such field.
    """
    names = keys([r.configuration for r in table])
    columns = []
    for name in names:
        values = [r.configuration.values.get(name) for r in table]
        distinct = {json.dumps(v, sort_keys=True): v for v in values if v is not None}
        labels = dict(zip(distinct, value_labels(list(distinct.values())), strict=True))
        columns.append(["-" if v is None else labels[json.dumps(v, sort_keys=True)]
                        for v in values])  # fmt: skip
    return names, [list(cells) for cells in zip(*columns, strict=True)] or [[] for _ in table]


def to_text(table: list[Row], columns: list[str], reference: str) -> str:
    """The table as aligned text, one row per configuration: its number, its value in each key
    in which the configurations differ, its metrics and its run count.
    """
    names, values = key_cells(table)
    head = ["#", *names, *(TITLES.get(c, c) for c in columns), "runs"]
    body = [
        [f"C{i}" + ("" if r.normalized else " *"), *cells,
         *(r.stats[c].text() if c in r.stats else "" for c in columns), str(r.runs)]
        for i, (r, cells) in enumerate(zip(table, values, strict=True), start=1)
    ]  # fmt: skip
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
    keyed = 1 + len(names)
    lines = ["  ".join(v.ljust(w) if i < keyed else v.rjust(w)
                       for i, (v, w) in enumerate(zip(line, widths, strict=True)))
             for line in [head, *body]]  # fmt: skip
    lines.append(f"Mean ± standard deviation over runs (seeds), per test example, in nats; "
                 f"each configuration's difference from {reference} is in --json.")  # fmt: skip
    if any("." in c for c in columns):
        lines.append("<metric>.<score> columns are a metric's scores (genkit eval --metric), in "
                     "its own units; see genkit describe metric NAME.")  # fmt: skip
    if not all(r.normalized for r in table):
        lines.append("* its likelihood drops its normalising constant: compare its numbers only "
                     "with runs of the same likelihood.")  # fmt: skip
    return "\n".join(line.rstrip() for line in lines)


def to_csv(table: list[Row], columns: list[str]) -> str:
    """The table as CSV: the configuration's name and difference, its value in each key in
    which the configurations differ, and a mean and a std column per metric (std blank for one
    run).
    """
    names, values = key_cells(table)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["configuration", "difference", "runs", "run_dirs", *names,
                     *(f"{c}_{s}" for c in columns for s in ("mean", "std"))])  # fmt: skip
    for r, cells in zip(table, values, strict=True):
        numbers = []
        for c in columns:
            stat = r.stats.get(c)
            numbers += [_num(stat.mean if stat else None), _num(stat.std if stat else None)]
        dirs = ";".join(str(run.run_dir) for run in r.configuration.runs)
        difference = json.dumps(r.configuration.difference, sort_keys=True)
        writer.writerow([r.configuration.label, difference, r.runs, dirs, *cells, *numbers])
    return text.getvalue()


def pruned_text(pruned: Sequence[PrunedRun]) -> str:
    """The runs a sweep's pruner stopped, one line each, apart from the table ("" for none)."""
    if not pruned:
        return ""
    width = max(len(r.run_dir.name) for r in pruned)
    lines = [f"Pruned by the sweep (stopped early, not compared): {len(pruned)}"]
    for r in pruned:
        loss = f"  test loss {r.test_loss:.2f}" if r.test_loss is not None else ""
        lines.append(f"  {r.run_dir.name:<{width}}  after epoch {r.epoch} of {r.epochs}{loss}")
    return "\n".join(lines)


def to_json(
    table: list[Row], columns: list[str], reference: str, pruned: Sequence[PrunedRun] = ()
) -> str:
    """The table as JSON, each run's own metrics included; the pruned runs apart."""
    data: dict[str, Any] = {
        "unit": "nats per test example",
        "reference": reference,
        "keys": keys([r.configuration for r in table]),
        "columns": columns,
        "configurations": [
            {
                "configuration": r.configuration.label,
                "difference": r.configuration.difference,
                "values": r.configuration.values,
                "normalized": r.normalized,
                "metrics": {
                    c: {k: _finite(v) for k, v in vars(s).items()} for c, s in r.stats.items()
                },
                "runs": [
                    {
                        "run_dir": str(run.run_dir),
                        "seed": run.seed,
                        "metrics": {c: _finite(run.metrics.get(c)) for c in columns},
                    }
                    for run in r.configuration.runs
                ],
            }
            for r in table
        ],
        "pruned": [
            {
                "run_dir": str(r.run_dir),
                "epoch": r.epoch,
                "epochs": r.epochs,
                "test_loss": _finite(r.test_loss),
                "reason": r.reason,
            }
            for r in pruned
        ],
    }
    return json.dumps(data, indent=2) + "\n"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _finite(value: Any) -> Any:
    """A number as JSON holds it: NaN and infinities, which strict JSON lacks, as null."""
    return value if _is_number(value) and math.isfinite(value) else None


def _num(value: float | None) -> str:
    return "" if value is None else repr(value)
