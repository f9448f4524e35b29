"""Attacks on ``genkit sweep`` (issue #22): hostile modules in the working directory, sweep files
that explode or hide duplicates, storages workers cannot share, passwords, full disks, damaged
journals, a diverged metric, and Ctrl-C while workers start.
"""

from __future__ import annotations

import contextlib
import errno
import math
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path
from types import SimpleNamespace

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from genkit_core.cli import main
from genkit_core.errors import NonFiniteError, RunError
from genkit_core.spec import SpecValidationError, dump_spec
from genkit_core.sweep import load_sweep, open_storage, runner, worker
from genkit_core.sweep.storage import repair_journal, show_url
from genkit_core.sweep.study import (
    RETRIABLE,
    RETRY_OF,
    claim_next,
    count_trials,
    retry_failed,
    sweep_trials,
)

from .conftest import BASE

HOSTILE = ("yaml", "optuna", "torch", "numpy", "sitecustomize", "usercustomize")


def _hostile_directory(path: Path) -> Path:
    """A directory whose modules (and a genkit_core package) each leave a marker when imported."""
    path.mkdir()
    for name in HOSTILE:
        (path / f"{name}.py").write_text(f"open({str(path / ('MARK-' + name))!r}, 'w')\n")
    (path / "genkit_core").mkdir()
    (path / "genkit_core" / "__init__.py").write_text(f"open({str(path / 'MARK-pkg')!r}, 'w')\n")
    return path


@pytest.mark.slow
def test_modules_in_the_working_directory_never_run_in_a_worker(
    sweep_file, tmp_path: Path, monkeypatch, capsys
):
    hostile = _hostile_directory(tmp_path / "cwd")
    base = {**BASE, "train": {**BASE["train"], "epochs": 1}}
    path = sweep_file(name="h", base=base, grid={"train.seed": [0]}, iw_samples=0)
    monkeypatch.chdir(hostile)  # where the user types genkit sweep; workers start here
    assert main(["sweep", str(path), "-o", str(tmp_path / "out"), "--workers", "64"]) == 0
    assert "  1 worker on the CPU" in capsys.readouterr().err  # not 64 for one trial
    genkit = Path(sys.executable).parent / "genkit"  # the console entry the user types
    if genkit.is_file():
        subprocess.run([str(genkit), "--version"], cwd=hostile, check=True, capture_output=True)
    assert sorted(p.name for p in hostile.glob("MARK-*")) == []


@pytest.mark.parametrize("delay", [0.05, 0.4, 1.0])
def test_a_worker_interrupted_while_it_starts_ends_quietly(tmp_path: Path, delay: float):
    process = runner.start_worker(tmp_path / "out", 1, 0, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)  # python's start, or the import of torch and optuna
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert process.returncode in (130, 1), err  # 1: it had started and found no sweep


def test_a_grid_too_large_is_counted_before_anything_is_built(tmp_path: Path, capsys):
    path = tmp_path / "big.yaml"
    grid = {f"train.{k}": list(range(1, 101)) for k in ("seed", "epochs", "batch_size")}
    path.write_text(
        yaml.safe_dump({"base": BASE, "grid": {**grid, "latent_dim": grid["train.seed"]}})
    )
    start = time.monotonic()
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"{path}: grid: makes 100,000,000 trials (100 x 100 x 100 x 100 grid values); "
        "at most 10,000 in one sweep\n"
    )
    assert time.monotonic() - start < 5  # it built none of them (20 GB before)
    many = r"grid: makes 20,000 trials \(100 grid values x 200 search trials\)"
    with pytest.raises(SpecValidationError, match=many):
        load_sweep({"base": BASE, "grid": {"train.seed": list(range(100))},
                    "search": {"trials": 200, "train.lr": {"uniform": [1e-3, 1e-2]}}})  # fmt: skip


@pytest.mark.parametrize(
    ("grid", "field", "message"),
    [
        pytest.param({"divergence.beta": [1, 1.0, True]}, "grid.divergence.beta.1",
                     "1.0 makes the same spec as value 0 (1) once validated", id="float"),
        pytest.param({"divergence.beta": [1, 1.0, True]}, "grid.divergence.beta.2",
                     "true makes the same spec as value 0 (1)", id="bool"),
        pytest.param({"likelihood": [{"type": "bernoulli"}, {"type": "bernoulli", "x": None}]},
                     "grid.likelihood.1.x", "unknown field", id="invalid"),
        pytest.param({"train.seed": [0, 0]}, "grid.train.seed.1", "the same spec as value 0",
                     id="repeat"),
    ],
)  # fmt: skip
def test_values_that_validate_alike_are_refused_naming_the_key(grid, field, message):
    with pytest.raises(SpecValidationError) as info:
        load_sweep({"base": BASE, "grid": grid})
    assert any(f == field and message in m for f, m in info.value.errors), info.value.errors


def test_two_trials_that_would_share_a_run_directory_are_refused():
    base = {**BASE, "data": {"type": "tensor_file", "path": "x.npz"}}
    grid = {"data.x_test": ["p,data.x_train=q", "p"], "data.x_train": ["r", "q,data.x_train=r"]}
    with pytest.raises(SpecValidationError) as info:
        load_sweep({"base": base, "grid": grid})
    (field, message), *_ = info.value.errors
    assert field == "grid"
    assert message.startswith(
        "two trials would share the name (and run directory) data.x_test=p,data.x_train=q,"
        'data.x_train=r: data.x_test="p,data.x_train=q", data.x_train="r" and data.x_test="p", '
        'data.x_train="q,data.x_train=r"; change the values of data.x_test, data.x_train'
    )


def test_a_step_too_small_to_count_is_a_spec_error_naming_it():
    with pytest.raises(SpecValidationError) as info:
        lr = {"uniform": [1e-4, 1e-2], "step": 1e-300}
        load_sweep({"base": BASE, "search": {"trials": 2, "train.lr": lr}})
    assert info.value.errors == [("search.train.lr.step", "1e-300 cuts [0.0001, 0.01] into more "
                                  "than 1e+12 steps; use a larger step, or leave step out for any "
                                  "float in the range")]  # fmt: skip
    with pytest.raises(SpecValidationError, match=r"search\.train\.lr\.uniform\.1: .*finite"):
        load_sweep({"base": BASE, "search": {"trials": 2, "train.lr": {"uniform": [0, math.inf]}}})


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        pytest.param("postgresql://sweeper:s3@cret@db.example:5432/optuna",
                     "postgresql://sweeper:***@db.example:5432/optuna", id="at-in-password"),
        pytest.param("postgresql+psycopg://u:a:b/c@d@h/db?sslmode=require",
                     "postgresql+psycopg://u:***@h/db?sslmode=require", id="colon-slash"),
        pytest.param("postgresql://u:p?a/s#s@h/db", "postgresql://u:***@h/db", id="query-marks"),
        pytest.param("mysql://u:p@h/db?x=a@b", "mysql://u:***@b", id="at-in-query"),
        pytest.param("postgresql://u:@h/db", "postgresql://u:***@h/db", id="empty"),
        pytest.param("postgresql://u@h/db", "postgresql://u@h/db", id="no-password"),
        pytest.param("sqlite:///runs/s.db", "sqlite:///runs/s.db", id="file"),
    ],
)  # fmt: skip
def test_a_storage_password_is_masked_up_to_the_last_at(url: str, shown: str):
    assert show_url(url) == shown


def test_no_part_of_a_password_reaches_a_drivers_error(sweep_file, tmp_path: Path, capsys):
    pytest.importorskip("psycopg")  # the driver that reads s3@cret@host as the host cret@host
    url = "postgresql://sweeper:s3@cret@nohost.invalid/db"
    path = sweep_file(grid={"train.seed": [0]})
    assert main(["sweep", str(path), "-o", str(tmp_path / "out"), "--storage", url]) == 1
    err = capsys.readouterr().err
    assert "cret" not in err and "postgresql://sweeper:***@nohost.invalid/db" in err


@pytest.mark.parametrize("url", ["sqlite:///:memory:", "sqlite://", "sqlite:///",
                                 "sqlite:///file:x?mode=memory&uri=true"])  # fmt: skip
def test_a_storage_workers_cannot_share_is_refused_and_leaves_no_directory(
    sweep_file, tmp_path: Path, capsys, url: str
):
    out = tmp_path / "new" / "out"
    path = sweep_file(grid={"train.seed": [0]})
    assert main(["sweep", str(path), "-o", str(out), "--storage", url]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "in-memory SQLite database lives in one process" in err
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("existing", [True, False], ids=["existing", "fresh"])
def test_a_sweep_refused_while_it_sets_up_leaves_the_directory_as_it_was(
    sweep_file, tmp_path: Path, capsys, monkeypatch, existing: bool
):
    out = tmp_path / "out"
    if existing:
        out.mkdir()

    def refuse(*args: object) -> None:
        raise RunError("refused")

    monkeypatch.setattr(runner, "_bind", refuse)
    path = sweep_file(grid={"train.seed": [0]})
    assert main(["sweep", str(path), "-o", str(out)]) == 1
    assert "refused" in capsys.readouterr().err
    assert out.exists() == existing and (not existing or list(out.iterdir()) == [])


@pytest.mark.parametrize("existing", [True, False], ids=["existing", "fresh"])
def test_a_refused_sweep_keeps_what_another_sweep_set_up_while_it_waited(
    sweep_file, tmp_path: Path, capsys, monkeypatch, existing: bool
):
    out = tmp_path / "out"
    if existing:
        out.mkdir()
    lock = runner.directory_lock

    @contextlib.contextmanager
    def another_sweep_first(directory: Path):
        with lock(directory):  # another sweep set DIR up while this one waited for the lock
            (directory / "sweep.yaml").write_text("another sweep's\n")
            (directory / "study.journal").write_text("its trials\n")
        with lock(directory):
            yield

    def refuse(*args: object) -> None:
        raise RunError("refused")

    monkeypatch.setattr(runner, "directory_lock", another_sweep_first)
    monkeypatch.setattr(runner, "_prepare", refuse)
    path = sweep_file(grid={"train.seed": [0]})
    assert main(["sweep", str(path), "-o", str(out)]) == 1
    assert "refused" in capsys.readouterr().err
    assert (out / "sweep.yaml").read_text() == "another sweep's\n"
    assert (out / "study.journal").read_text() == "its trials\n"


def test_the_hint_after_ctrl_c_repeats_the_whole_command(
    sweep_file, tmp_path: Path, capsys, monkeypatch
):
    def interrupted(sweep, store, pool, stop, say):  # Ctrl-C while the workers run
        stop.signum = signal.SIGINT

    monkeypatch.setattr(runner, "_start_workers", lambda *args: [])
    monkeypatch.setattr(runner, "_follow", interrupted)
    path = sweep_file(grid={"train.seed": [0]})
    args = ["sweep", str(path), "-o", str(tmp_path / "o u t"), "--workers", "2",
            "--storage", f"sqlite:///{tmp_path}/s.db", "-q"]  # fmt: skip
    assert main(args) == 130
    err = capsys.readouterr().err
    assert err.endswith(
        f"Continue with the same command (genkit sweep {path} -o '{tmp_path}/o u t' --workers 2 "
        f"--storage sqlite:///{tmp_path}/s.db -q)\n"
    )


def test_the_lock_file_on_a_full_disk_is_one_line(sweep_file, tmp_path: Path, capsys, monkeypatch):
    opened = Path.open

    def full(self: Path, *args: object, **kwargs: object):
        if self.suffix == ".lock":
            raise OSError(errno.ENOSPC, "No space left on device")
        return opened(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", full)
    path = sweep_file(grid={"train.seed": [0]})
    assert main(["sweep", str(path), "-o", str(tmp_path / "out")]) == 1
    assert capsys.readouterr().err == (
        f"genkit: error: {tmp_path}/out/.locks/claim.lock: cannot write the lock file (No space "
        "left on device); free some space on its disk, then run the same command again\n"
    )


def test_the_journal_on_a_full_disk_is_one_line_in_a_worker(grid, capsys, monkeypatch):
    _, directory, _ = grid

    def full(self, logs):
        raise OSError(errno.ENOSPC, "No space left on device", str(directory / "study.journal"))

    monkeypatch.setattr(optuna.storages.journal.JournalFileBackend, "append_logs", full)
    assert worker.main([str(directory)]) == 1
    assert capsys.readouterr().err == (
        f"genkit: error: {directory}/study.journal: No space left on device; free some space on "
        "its disk, then run the same command again\n"
    )


def _failing(exc: Exception):
    def trainer(*args: object) -> None:
        raise exc

    return trainer


def test_a_trial_failed_for_a_passing_cause_runs_again_once_per_command(grid, monkeypatch):
    sweep, directory, storage = grid
    full = RunError(f"{directory}/seed=0/checkpoint.safetensors: cannot write it (No space left)")
    causes = [full, NonFiniteError("training stopped: the loss became nan"), None]
    names = []
    for cause in causes:
        claim = claim_next(sweep, storage, directory)
        names.append((claim.name, claim.params))
        if cause is None:
            claim.study.tell(claim.trial, 1.0)
        else:
            monkeypatch.setattr(worker, "_trainer", _failing(cause))
            worker.run_trial(sweep, claim, directory, None)
        claim.release()
    assert claim_next(sweep, storage, directory) is None
    assert str(count_trials(sweep_trials(sweep, storage))) == "1 done, 2 failed, 0 running, 0 left"

    assert retry_failed(sweep, storage) == 1  # what genkit sweep does as it starts
    assert str(count_trials(sweep_trials(sweep, storage))) == "1 done, 1 failed, 0 running, 1 left"
    again = claim_next(sweep, storage, directory)
    assert ((again.name, again.params), again.trial.user_attrs[RETRY_OF]) == (names[0], 0)
    assert claim_next(sweep, storage, directory) is None  # the diverged one is not retried
    monkeypatch.setattr(worker, "_trainer", _failing(OSError(errno.EIO, "Input/output error")))
    worker.run_trial(sweep, again, directory, None)
    again.release()
    trials = sweep_trials(sweep, storage)[0][1]
    retriable = [t.user_attrs[RETRIABLE] for t in trials if t.state == TrialState.FAIL]
    assert retriable == [True, False, True]
    assert retry_failed(sweep, storage) == 1  # the retry's own failure, not trial 0 again


def test_a_diverged_metric_fails_the_trial_saying_so_without_optunas_warning(grid, monkeypatch):
    sweep, directory, storage = grid
    claim = claim_next(sweep, storage, directory)
    run_dir = directory / claim.name
    run_dir.mkdir()
    (run_dir / "metrics.csv").write_text("epoch,step,train_loss,test_loss\n1,4,45.0,44.0\n"
                                         "2,8,nan,inf\n")  # fmt: skip
    spec = SimpleNamespace(train=SimpleNamespace(device="cpu"))
    trainer = SimpleNamespace(fit=lambda: None, spec=spec)
    monkeypatch.setattr(worker, "_trainer", lambda *args: trainer)
    monkeypatch.setattr("genkit_core.run_metrics.measure_run", lambda *a: {"test_loss": math.nan})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Optuna's UserWarning about a nan value would raise
        worker.run_trial(sweep, claim, directory, None)
    (trial,) = sweep_trials(sweep, storage)[0][1]
    assert trial.state == TrialState.FAIL and not trial.user_attrs[RETRIABLE]
    assert trial.user_attrs["error"] == (
        "its test_loss is nan: the run diverged at epoch 2 (its losses became nan or inf); lower "
        "train.lr, or set train.clip_grad_norm"
    )


def test_a_damaged_checkpoint_of_a_trial_run_again_trains_from_the_start(grid):
    sweep, directory, storage = grid
    claim = claim_next(sweep, storage, directory)
    run_dir = directory / claim.name
    run_dir.mkdir()
    (run_dir / "spec.yaml").write_text(dump_spec(sweep.spec(claim.params, claim.name)))
    (run_dir / "checkpoint.safetensors").write_bytes(b"torn")
    with pytest.raises(RunError, match="not a readable safetensors file"):
        worker._trainer(sweep, claim, directory / claim.name, None, None)
    claim.trial.set_user_attr(RETRY_OF, 7)
    trainer = worker._trainer(sweep, claim, directory / claim.name, None, None)
    assert trainer.spec.train.seed == claim.params["train.seed"]


def _journal_with_trials(grid) -> Path:
    sweep, directory, storage = grid
    for _ in range(2):
        claim = claim_next(sweep, storage, directory)
        claim.study.tell(claim.trial, 1.0)
        claim.release()
    return directory / "study.journal"


def test_a_journal_torn_at_its_end_is_repaired_saying_what_was_dropped(grid):
    journal = _journal_with_trials(grid)
    intact = journal.read_bytes()
    journal.write_bytes(intact + b'{"op_code": 6, "worker_id": "x", "trial_')
    assert repair_journal(journal) == (
        f"dropped the last line of {journal} (40 bytes, torn by a crash while it was written); "
        "its trial, if any, runs again"
    )
    assert journal.read_bytes() == intact and repair_journal(journal) is None
    sweep, directory, _ = grid
    trials = sweep_trials(sweep, open_storage(None, directory))[0][1]
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2


def test_a_journal_damaged_inside_is_one_line_naming_it(grid, sweep_file, capsys):
    journal = _journal_with_trials(grid)
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(b"".join([*lines[:2], b"\x00garbage\n", *lines[2:]]))
    sweep, directory, _ = grid
    path = sweep_file(**{k: v for k, v in sweep.as_dict().items() if k != "base"})
    assert main(["sweep", str(path), "-o", str(directory)]) == 1
    assert capsys.readouterr().err == (
        f"genkit: error: {journal}: line 3 of {len(lines) + 1} is damaged (not one of Optuna's "
        "records), so which trials ran is unknown; restore the file from a backup, or run the "
        "sweep into another -o\n"
    )


def test_genkit_sweep_queues_the_trials_that_may_pass_as_it_starts(
    grid, sweep_file, capsys, monkeypatch
):
    sweep, directory, storage = grid
    monkeypatch.setattr(runner, "_start_workers", lambda *args: [])  # no trial runs
    path = sweep_file(**{k: v for k, v in sweep.as_dict().items() if k != "base"})
    assert main(["sweep", str(path), "-o", str(directory), "-q"]) == 1  # DIR set up
    claim = claim_next(sweep, storage, directory)
    monkeypatch.setattr(worker, "_trainer", _failing(OSError(errno.ENOSPC, "No space left")))
    worker.run_trial(sweep, claim, directory, None)
    claim.release()
    capsys.readouterr()
    assert main(["sweep", str(path), "-o", str(directory)]) == 1
    assert (
        "  again: 1 trial that failed for a cause that may have passed" in capsys.readouterr().err
    )
    trials = sweep_trials(sweep, open_storage(None, directory))[0][1]
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.WAITING]
    again = claim_next(sweep, storage, directory)
    assert (again.name, again.params, again.trial.number) == (claim.name, claim.params, 1)
    again.release()
