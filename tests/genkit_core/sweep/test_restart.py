"""A sweep killed with SIGKILL part-way finishes on a restart: every trial once, none lost."""

from __future__ import annotations

import csv
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

from genkit_core.run import CHECKPOINT

from .conftest import BASE, genkit_sweep, run_dirs, study_trials

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform != "linux", reason="finds the workers through /proc"),
]

EPOCHS = 60


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _count(out: Path, study: str, state: TrialState) -> int:
    if not (out / "study.journal").is_file():
        return 0
    return [t.state for t in study_trials(out, study)].count(state)


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] in "ZX"
    except OSError:
        return True


def _wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_a_sweep_killed_with_sigkill_restarts_and_runs_each_of_8_trials_once(
    sweep_file, tmp_path: Path
):
    train = {**BASE["train"], "epochs": EPOCHS}
    path = sweep_file(
        name="killed",
        base={**BASE, "train": train},
        grid={"divergence.beta": [1.0, 2.0], "train.seed": [0, 1, 2, 3]},
    )
    out = tmp_path / "out"
    first = genkit_sweep(str(path), "-o", str(out), "--workers", "2")

    def ready() -> bool:  # two trials finished, and two in training (a checkpoint written)
        if _count(out, "killed", TrialState.COMPLETE) < 2:
            return False
        running = [t for t in study_trials(out, "killed") if t.state == TrialState.RUNNING]
        logs = [out / "logs" / f"{t.user_attrs.get('run')}.log" for t in running]
        return len(logs) == 2 and all(p.is_file() and "epoch 1/" in p.read_text() for p in logs)

    _wait_for(lambda: ready() or first.poll() is not None, 300, "two finished, two training")
    assert first.poll() is None, first.communicate()
    workers = _children(first.pid)
    assert len(workers) == 2
    for pid in [*workers, first.pid]:  # as the OOM killer or a cluster's job kill would
        os.kill(pid, signal.SIGKILL)
    first.wait()
    for pid in workers:
        _wait_for(lambda pid=pid: _gone(pid), 10, f"worker {pid} to die")

    trials = study_trials(out, "killed")
    finished_before = {t.user_attrs["run"] for t in trials if t.state == TrialState.COMPLETE}
    assert 2 <= len(finished_before) < 8
    running = {t.number for t in trials if t.state == TrialState.RUNNING}  # left by dead workers
    assert running
    # A worker may have claimed its next trial between ``ready()`` and the kill: that trial has
    # no checkpoint yet and rightly starts afresh. Every one with a checkpoint must resume.
    checkpointed = {
        t.number for t in trials
        if t.number in running and (out / t.user_attrs["run"] / CHECKPOINT).is_file()
    }  # fmt: skip
    assert checkpointed
    untouched = {name: (out / name / "eval.json").stat().st_mtime_ns for name in finished_before}

    second = genkit_sweep(str(path), "-o", str(out), "--workers", "2")
    stdout, stderr = second.communicate(timeout=600)
    assert second.returncode == 0, stderr[-3000:]
    assert "8 done, 0 running, 0 left" in stdout

    # exactly 8 finished run directories, by listing them ...
    listed = run_dirs(out)
    assert len(listed) == 8
    assert all((d / "eval.json").is_file() for d in listed)
    # ... and by Optuna's study: 8 trials, each complete, each naming its run directory
    trials = study_trials(out, "killed")
    assert len(trials) == 8
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert {t.user_attrs["run"] for t in trials} == {d.name for d in listed}
    assert sorted((t.params["divergence.beta"], t.params["train.seed"]) for t in trials) == sorted(
        (b, s) for b in (1.0, 2.0) for s in range(4)
    )
    # no finished trial was run again, and each trial trained each epoch once
    for name, mtime in untouched.items():
        assert (out / name / "eval.json").stat().st_mtime_ns == mtime, name
    for d in listed:
        with (d / "metrics.csv").open() as f:
            epochs = [int(row["epoch"]) for row in csv.DictReader(f)]
        assert epochs == list(range(1, EPOCHS + 1)), d.name
    # the trials the kill interrupted in training resumed from their checkpoints
    for t in trials:
        if t.number in checkpointed:
            log = (out / "logs" / f"{t.user_attrs['run']}.log").read_text()
            assert f"resuming {out / t.user_attrs['run']}" in log, log
    # the value told to Optuna is the test loss the run measured
    for t in trials:
        measured = json.loads((out / t.user_attrs["run"] / "eval.json").read_text())
        assert measured["test_loss"] == t.value


def test_workers_of_a_killed_sweep_checkpoint_and_stop_and_a_restart_finishes(
    sweep_file, tmp_path: Path
):
    train = {**BASE["train"], "epochs": 60}
    path = sweep_file(name="orphans", base={**BASE, "train": train},
                      grid={"train.seed": [0, 1, 2]})  # fmt: skip
    out = tmp_path / "out"
    first = genkit_sweep(str(path), "-o", str(out), "--workers", "2")

    def training() -> bool:  # two trials past their first epoch, so in the trainer's hands
        logs = list((out / "logs").glob("*.log")) if (out / "logs").is_dir() else []
        return sum("epoch 1/60" in log.read_text() for log in logs) == 2

    _wait_for(lambda: training() or first.poll() is not None, 300, "two training trials")
    workers = _children(first.pid)
    os.kill(first.pid, signal.SIGKILL)  # the parent alone
    first.wait()
    for pid in workers:  # they notice, checkpoint their trials (as on SIGTERM) and exit
        _wait_for(lambda pid=pid: _gone(pid), 60, f"worker {pid} to stop")
    interrupted = [t for t in study_trials(out, "orphans") if t.state == TrialState.RUNNING]
    assert len(interrupted) == 2
    for t in interrupted:
        assert "interrupted at step" in (out / "logs" / f"{t.user_attrs['run']}.log").read_text()

    second = genkit_sweep(str(path), "-o", str(out), "--workers", "2")
    _, stderr = second.communicate(timeout=600)
    assert second.returncode == 0, stderr[-3000:]
    trials = study_trials(out, "orphans")
    assert len(trials) == 3 and all(t.state == TrialState.COMPLETE for t in trials)
