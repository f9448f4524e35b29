"""The CSV logger writes whole rows: a full disk leaves metrics.csv as it was, never torn."""

from __future__ import annotations

import csv
import errno
import os
import shutil
from collections import namedtuple
from pathlib import Path
from typing import Any

import pytest

from genkit_core import Params, RunError
from genkit_core.cli import main
from genkit_plugins.loggers.csv_logger import CSVLogger

_Usage = namedtuple("_Usage", "total used free")


def _fill_disk(monkeypatch: pytest.MonkeyPatch, name: str, after: int) -> list[int]:
    """From the ``after``-th write of a file called ``name`` on (counting from 0), the disk
    takes 7 bytes and then refuses the rest, as a full disk does. Returns the count so far."""
    opened: set[int] = set()
    count = [0]
    real_open, real_write = os.open, os.write

    def tracking_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        fd = real_open(path, flags, *args, **kwargs)
        (opened.add if Path(os.fsdecode(path)).name == name else opened.discard)(fd)
        return fd

    def full_write(fd: int, data: Any) -> int:
        if fd not in opened:
            return real_write(fd, data)
        count[0] += 1
        if count[0] <= after:
            return real_write(fd, data)
        if len(data) > 7:
            return real_write(fd, bytes(data[:7]))  # the part the disk had room for
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "open", tracking_open)
    monkeypatch.setattr(os, "write", full_write)
    real_usage = shutil.disk_usage

    def usage(path: Any) -> Any:  # room enough for the checks before training, until full
        return _Usage(0, 0, 3) if count[0] > after else real_usage(path)

    monkeypatch.setattr(shutil, "disk_usage", usage)
    return count


def test_a_full_disk_leaves_metrics_csv_as_it_was_and_names_the_room_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logger = CSVLogger(Params(), tmp_path)
    logger.log({"epoch": 1, "train_loss": 3.25}, step=8)
    before = (tmp_path / "metrics.csv").read_bytes()
    _fill_disk(monkeypatch, "metrics.csv", after=0)
    message = (
        r"metrics\.csv: cannot write it \(No space left on device\); the previous file is "
        r"intact\. Its disk has 3 bytes free and it needs 9 bytes: free some space$"
    )
    with pytest.raises(RunError, match=message):
        logger.log({"epoch": 2, "train_loss": 2.125}, step=16)
    assert (tmp_path / "metrics.csv").read_bytes() == before
    monkeypatch.undo()  # room again: the next row follows the last whole one
    logger.log({"epoch": 2, "train_loss": 2.125}, step=16)
    text = (tmp_path / "metrics.csv").read_text()
    assert text.splitlines() == ["epoch,train_loss", "1,3.25", "2,2.125"]


def test_a_run_whose_disk_fills_while_logging_stops_in_one_line_and_resumes_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec_dict: Any, write_spec: Any, capsys: Any
) -> None:
    spec = spec_dict(train={**spec_dict()["train"], "epochs": 3})
    run = tmp_path / "run"
    _fill_disk(monkeypatch, "metrics.csv", after=1)  # the header and row 1 fit, row 2 does not
    assert main(["train", str(write_spec(spec)), "-o", str(run), "-q"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "metrics.csv: cannot write it (No space left on device); the previous file" in err
    assert "Its disk has 3 bytes free and it needs" in err
    with (run / "metrics.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    assert [row[0] for row in rows] == ["epoch", "1"]  # whole rows only
    monkeypatch.undo()
    assert main(["train", "--resume", str(run), "-q"]) == 0
    with (run / "metrics.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    assert [row[0] for row in rows] == ["epoch", "1", "2", "3"]
    assert len({len(row) for row in rows}) == 1


def test_a_resumed_run_drops_the_rows_its_checkpoint_had_not_finished(tmp_path: Path) -> None:
    (tmp_path / "metrics.csv").write_text("epoch,step,loss\n1,8,3.0\n2,16,2.0\n3,24,1.0\n")
    logger = CSVLogger(Params(), tmp_path)
    logger.start({}, resumed_epoch=2)
    logger.log({"epoch": 3, "step": 24, "loss": 0.5}, step=24)
    assert (tmp_path / "metrics.csv").read_text().splitlines() == [
        "epoch,step,loss",
        "1,8,3.0",
        "2,16,2.0",
        "3,24,0.5",
    ]


@pytest.mark.parametrize("done", [pytest.param(3, id="kept-rows"), pytest.param(1, id="dropped")])
def test_a_torn_last_row_is_dropped_on_resuming(tmp_path: Path, done: int) -> None:
    """A row cut off by a crash in an older genkit: the next row must start on its own line."""
    (tmp_path / "metrics.csv").write_text("epoch,step,loss\n1,8,3.0\n2,16,2.0\n3,24,1.")
    CSVLogger(Params(), tmp_path).start({}, resumed_epoch=done)
    rows = ["epoch,step,loss", "1,8,3.0", "2,16,2.0"][: 1 + min(done, 2)]
    assert (tmp_path / "metrics.csv").read_text().splitlines() == rows


def test_a_new_run_replaces_an_earlier_runs_rows(tmp_path: Path) -> None:
    (tmp_path / "metrics.csv").write_text("epoch,other\n1,2\n")
    logger = CSVLogger(Params(), tmp_path)
    logger.start({}, resumed_epoch=None)
    logger.log({"epoch": 1, "loss": 0.5}, step=8)
    assert (tmp_path / "metrics.csv").read_text().splitlines() == ["epoch,loss", "1,0.5"]
