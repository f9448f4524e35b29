"""Paths the user gives that cannot be used: one line naming the path, never a traceback.

Tests run as root, which may write anywhere, so a read-only place is simulated by refusing the
write itself with the error a read-only file system gives (``EROFS``).
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
import yaml

from genkit_core.cli import main
from genkit_core.files import path_error
from genkit_core.testing import tiny_spec

LONG = "x" * 300
"""A file name longer than any file system allows (255 bytes): ENAMETOOLONG."""


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch) -> Path:
    """A working directory holding vae.yaml (a tiny spec) and sweep.yaml (a sweep of it)."""
    monkeypatch.chdir(tmp_path)
    spec = tiny_spec(train={"epochs": 1, "progress": False})
    (tmp_path / "vae.yaml").write_text(yaml.safe_dump(spec))
    sweep = {"base": spec, "grid": {"train.seed": [0, 1]}}
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(sweep))
    return tmp_path


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("genkit: error: "), err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["eval", LONG], id="eval"),
        pytest.param(["report", LONG], id="report"),
        pytest.param(["train", "vae.yaml", "-o", LONG], id="train-o"),
        pytest.param(["train", "vae.yaml", "-o", f"runs/{LONG}/run"], id="train-o-parent"),
        pytest.param(["compare", LONG], id="compare"),
        pytest.param(["sweep", "sweep.yaml", "-o", LONG], id="sweep-o"),
        pytest.param(["schema", "-o", f"{LONG}.json"], id="schema-o"),
    ],
)
def test_a_name_over_255_bytes_is_one_line_naming_the_path(in_tmp: Path, argv, capsys) -> None:
    assert main(argv) == 1
    err = _one_line(capsys)
    assert "xxx...xxx" in err and "longer than the file system allows (255 bytes)" in err
    assert len(err) < 400  # the name is cut in its middle


def _read_only_below(monkeypatch, folder: Path) -> None:
    """Writes and deletions below ``folder`` fail as on a read-only file system."""

    def refuse(original):
        def call(path, *args, **kwargs):
            if folder in Path(path).absolute().parents or Path(path).absolute() == folder:
                raise OSError(errno.EROFS, "Read-only file system", str(path))
            return original(path, *args, **kwargs)

        return call

    for name in ("write_bytes", "unlink", "mkdir"):
        monkeypatch.setattr(Path, name, refuse(getattr(Path, name)))
    import tempfile

    mkstemp = tempfile.mkstemp
    monkeypatch.setattr(
        tempfile,
        "mkstemp",
        lambda *a, dir=None, **k: refuse(lambda d: mkstemp(*a, dir=d, **k))(dir),
    )


def test_overwrite_of_a_read_only_run_is_one_line_and_removes_nothing(
    in_tmp: Path, monkeypatch, capsys
) -> None:
    run = in_tmp / "run"
    run.mkdir()
    (run / "metrics.csv").write_text("epoch\n1\n")
    _read_only_below(monkeypatch, run)
    assert main(["train", "vae.yaml", "-o", str(run), "--overwrite", "-q"]) == 1
    err = _one_line(capsys)
    assert "run: cannot write the run directory (Read-only file system)" in err
    assert (run / "metrics.csv").read_text() == "epoch\n1\n"


@pytest.mark.parametrize(
    ("where", "message"),
    [
        pytest.param(
            "missing/schema.json", "its folder does not exist; create it first", id="missing"
        ),
        pytest.param("ro/schema.json", "it is on a read-only file system", id="read-only"),
        pytest.param(
            "vae.yaml/schema.json", "a part of it is a file, not a folder", id="below-a-file"
        ),
    ],
)
def test_schema_into_a_place_it_cannot_write_is_one_line(
    in_tmp: Path, monkeypatch, capsys, where: str, message: str
) -> None:
    (in_tmp / "ro").mkdir()
    _read_only_below(monkeypatch, in_tmp / "ro")
    assert main(["schema", "-o", where]) == 1
    err = _one_line(capsys)
    assert f"{where}: cannot write it" in err and message in err


def test_other_os_errors_are_not_made_the_users_fault() -> None:
    assert path_error(OSError(errno.EIO, "Input/output error", "f")) is None
    assert path_error(OSError(errno.ENAMETOOLONG, "File name too long")) is None  # no path
    error = path_error(OSError(errno.EACCES, "Permission denied", "a/b"))
    assert str(error) == "a/b: permission denied; fix the permissions or choose another path"
