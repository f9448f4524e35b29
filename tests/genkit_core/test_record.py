"""The run's own record of its epochs: written whole, cut back on resuming, read by everyone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genkit_core.errors import RunError
from genkit_core.record import RECORD, append_row, drop_rows_after, read_history


def _rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / RECORD).read_text().splitlines()]


def test_rows_are_appended_and_read_back_as_columns(tmp_path: Path) -> None:
    append_row(tmp_path, {"epoch": 1, "step": 8, "train_loss": 3.0})
    append_row(tmp_path, {"epoch": 2, "step": 16, "train_loss": 2.0, "test_loss": 2.5})
    history = read_history(tmp_path)
    assert history["epoch"] == [1.0, 2.0]
    assert history["test_loss"] == [None, 2.5]  # a row without a test pass


def test_a_diverged_row_keeps_its_nan(tmp_path: Path) -> None:
    append_row(tmp_path, {"epoch": 1, "step": 8, "train_loss": float("nan")})
    (value,) = read_history(tmp_path)["train_loss"]
    assert value is not None and value != value


def test_rows_of_epochs_the_checkpoint_had_not_finished_are_dropped(tmp_path: Path) -> None:
    for epoch in (1, 2, 3):
        append_row(tmp_path, {"epoch": epoch, "step": 8 * epoch})
    drop_rows_after(tmp_path, 2)
    assert [row["epoch"] for row in _rows(tmp_path)] == [1, 2]


@pytest.mark.parametrize("done", [pytest.param(3, id="kept-rows"), pytest.param(1, id="dropped")])
def test_a_torn_last_row_is_dropped_on_resuming(tmp_path: Path, done: int) -> None:
    """A row cut off by a crash must not pass for a row, and the next starts on its own line."""
    (tmp_path / RECORD).write_text('{"epoch": 1}\n{"epoch": 2}\n{"epoch": 3, "st')
    drop_rows_after(tmp_path, done)
    assert [row["epoch"] for row in _rows(tmp_path)] == [1, 2][: min(done, 2)]


def test_a_run_of_an_older_genkit_is_read_from_its_metrics_csv(tmp_path: Path) -> None:
    (tmp_path / "metrics.csv").write_text("epoch,step,test_loss\n1,8,3.0\n2,16,\n")
    assert read_history(tmp_path)["test_loss"] == [3.0, None]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        pytest.param(None, "no history.jsonl", id="missing"),
        pytest.param("", "no rows yet", id="empty"),
        pytest.param("not json\n[1, 2]\n", "no rows yet", id="damaged"),
    ],
)
def test_a_missing_or_empty_record_is_a_run_error(tmp_path: Path, text, match) -> None:
    if text is not None:
        (tmp_path / RECORD).write_text(text)
    with pytest.raises(RunError, match=match):
        read_history(tmp_path)


def test_a_record_of_10_gb_is_refused_without_reading_it(tmp_path: Path) -> None:
    with (tmp_path / RECORD).open("wb") as f:
        f.truncate(10 << 30)
    with pytest.raises(RunError, match=r"history\.jsonl: 10\.0 GiB, larger than the 64\.0 MiB"):
        read_history(tmp_path)
