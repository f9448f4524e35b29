"""genkit compare against what a run directory may hold that genkit did not write: foreign
files in place of its own, and the same run reached twice."""

from __future__ import annotations

import os
import re
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from genkit_core.cli import main
from genkit_core.compare import collect, find_runs
from genkit_core.errors import RunError
from genkit_core.files import read_small_file
from genkit_core.record import MAX_RECORD_BYTES

posix_only = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs and /dev/zero")


@contextmanager
def _deadline(seconds: int) -> Iterator[None]:
    """Fail instead of hanging the suite when the code under test blocks."""

    def expire(*_: object) -> None:
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def two_runs(seeded_runs: Path, tmp_path: Path) -> Path:
    """``runs/a`` and ``runs/b``: two seeds of one configuration, measured (``eval.json``)."""
    sources = [seeded_runs / "beta1-seed0", seeded_runs / "beta1-seed1"]
    collect(sources, iw_samples=5)  # writes each eval.json, once in a session
    root = tmp_path / "runs"
    for name, source in zip("ab", sources, strict=True):
        shutil.copytree(source, root / name)
    return root


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _dev_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


def _huge(path: Path) -> None:
    with path.open("wb") as f:  # sparse: no disk used
        f.truncate(MAX_RECORD_BYTES + 1)  # over the limits of eval.json and history.jsonl


def _directory(path: Path) -> None:
    path.mkdir()


@posix_only
@pytest.mark.parametrize(
    ("make", "why"),
    [
        pytest.param(_fifo, r"not a regular file \(a FIFO\); not read", id="fifo"),
        pytest.param(
            _dev_zero, r"not a regular file \(a character device\); not read", id="dev-zero"
        ),
        pytest.param(
            _huge,
            r"[\d,.]+ (MiB|bytes), larger than the [\d,.]+ (MiB|bytes) genkit writes there; "
            r"not read \(move it away\)",
            id="huge",
        ),
        pytest.param(_directory, r"not a regular file \(a directory\); not read", id="directory"),
    ],
)
@pytest.mark.parametrize("name", ["eval.json", "history.jsonl"])
def test_a_foreign_file_in_a_run_skips_that_run_in_one_line_and_compares_the_rest(
    two_runs: Path, capsys, name, make, why
):
    (two_runs / "b" / "eval.json").unlink()  # measured again, so history.jsonl is read too
    target = two_runs / "b" / name
    target.unlink(missing_ok=True)
    make(target)
    with _deadline(30):
        assert main(["compare", str(two_runs), "--no-page", "--iw-samples", "5"]) == 0
    captured = capsys.readouterr()
    skipped = [line for line in captured.err.splitlines() if "skipping" in line]
    prefix = f"genkit: skipping {two_runs / 'b'}: {target}: "
    assert len(skipped) == 1 and skipped[0].startswith(prefix)
    assert re.fullmatch(why, skipped[0][len(prefix) :])
    assert "\nC1 " in captured.out and "C2" not in captured.out  # the other run compared


@posix_only
def test_read_small_file_refuses_a_fifo_without_waiting_for_a_writer(tmp_path: Path):
    os.mkfifo(tmp_path / "fifo")
    with _deadline(10), pytest.raises(RunError, match=r"fifo: not a regular file \(a FIFO\)"):
        read_small_file(tmp_path / "fifo")
    (tmp_path / "small").write_bytes(b"12345")
    assert read_small_file(tmp_path / "small", limit=5) == b"12345"
    with pytest.raises(RunError, match="5 bytes, larger than the 4 bytes"):
        read_small_file(tmp_path / "small", limit=4)


@pytest.mark.parametrize("how", ["dotdot", "symlink"])
def test_a_run_reached_twice_is_counted_once_and_the_duplicate_named(two_runs: Path, how):
    (two_runs.parent / "x").mkdir()
    if how == "dotdot":
        again = two_runs / "x" / ".." / "a"
        (two_runs / "x").mkdir()
    else:
        again = two_runs.parent / "x" / "a-link"
        again.symlink_to(two_runs / "a", target_is_directory=True)
    lines: list[str] = []
    assert find_runs([two_runs, again], lines.append) == [two_runs / "a", two_runs / "b"]
    assert lines == [f"genkit: {again} is the run {two_runs / 'a'} again; counted once"]
    found, _ = collect([two_runs, again], iw_samples=5, warn=lines.append)
    assert [len(c.runs) for c in found] == [2]  # not 3: a's numbers would count twice


def test_a_copy_of_a_run_is_named_as_one_seed_counted_twice(two_runs: Path):
    shutil.copytree(two_runs / "a", two_runs / "a-copy")
    lines: list[str] = []
    found, _ = collect([two_runs], iw_samples=5, warn=lines.append)
    assert lines == [
        f"genkit: warning: {two_runs / 'a'} and {two_runs / 'a-copy'} are one configuration "
        "with one seed (0), copies or repeats; both are counted"
    ]
    assert [r.seed for r in found[0].runs] == [0, 0, 1]
