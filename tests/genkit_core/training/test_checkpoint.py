"""Interrupted runs: checkpoints survive kill -9, resumes are exact, Ctrl-C and SIGTERM save.

Resumes are compared with an uninterrupted run of the same spec and seed on the CPU, weight by
weight with ``torch.equal``: from an epoch end, from a mid-epoch ``checkpoint_every`` checkpoint
left by a crash, and from the checkpoint Ctrl-C saves.
"""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from genkit_core.cli import main
from genkit_core.files import read_tensors
from genkit_core.training import Trainer, TrainingInterrupted
from genkit_core.training.checkpoint import Position, load_checkpoint
from genkit_core.training.step import TrainStep

SPEC: dict[str, Any] = {
    "model": "vae",
    "latent_dim": 4,
    "data": {"type": "digits", "max_train": 256, "max_test": 64},  # 8 steps of 32 an epoch
    "encoder": {"type": "mlp", "hidden": [32]},
    "decoder": {"type": "mlp", "hidden": [32]},
    "likelihood": {"type": "bernoulli"},
    "train": {"epochs": 3, "batch_size": 32, "seed": 0, "device": "cpu", "progress": False,
              "checkpoint_every": 5},
}  # fmt: skip


def _spec(**train: Any) -> dict[str, Any]:
    return {**SPEC, "train": {**SPEC["train"], **train}}


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return read_tensors(run / "model.safetensors")[0]


def _assert_same_run(run: Path, reference: Path) -> None:
    got, want = _weights(run), _weights(reference)
    assert got.keys() == want.keys()
    assert all(torch.equal(got[k], want[k]) for k in want), "weights differ"
    rows = [list(csv.DictReader((r / "metrics.csv").open())) for r in (run, reference)]
    for row in rows:
        for r in row:
            r.pop("seconds")
    assert rows[0] == rows[1]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    """The reference: 3 epochs of 8 steps, checkpoints every 5 steps, never stopped."""
    run = tmp_path_factory.mktemp("reference") / "run"
    Trainer(_spec(), run, stream=None).fit()
    return run


def _at_step(monkeypatch, step: int, action) -> None:
    """Call ``action()`` right after training step ``step`` (1-based) completes."""
    original = TrainStep.__call__

    def counted(self, *args, **kwargs):
        original(self, *args, **kwargs)
        if int(self.step_t) == step:
            action()

    monkeypatch.setattr(TrainStep, "__call__", counted)


def test_resuming_from_an_epoch_end_gives_the_same_weights(tmp_path, uninterrupted):
    run = tmp_path / "run"
    Trainer(_spec(epochs=1), run, stream=None).fit()
    assert main(["train", "--resume", str(run), "--set", "train.epochs=3", "-q"]) == 0
    _assert_same_run(run, uninterrupted)


def test_resuming_after_a_crash_from_a_mid_epoch_checkpoint_gives_the_same_weights(
    tmp_path, monkeypatch, uninterrupted
):
    def crash() -> None:
        raise MemoryError("the machine went away")

    _at_step(monkeypatch, 13, crash)  # the last checkpoint is step 10: epoch 2, batch 2
    run = tmp_path / "run"
    with pytest.raises(MemoryError):
        Trainer(_spec(), run, stream=None).fit()
    position = read_tensors(run / "checkpoint.safetensors")[1]["position"]
    assert (position["step"], position["epoch"], position["batch"]) == (10, 1, 2)
    monkeypatch.undo()
    assert main(["train", "--resume", str(run), "-q"]) == 0
    _assert_same_run(run, uninterrupted)


@pytest.mark.parametrize(
    "every",
    [
        pytest.param(5, id="last-checkpoint-mid-epoch"),
        pytest.param(8, id="last-checkpoint-on-the-epochs-last-batch"),
    ],
)
def test_a_crash_between_logging_an_epoch_and_checkpointing_it_logs_it_once(
    tmp_path, monkeypatch, every
):
    from genkit_core.training import checkpoint

    save = checkpoint.save_checkpoint

    def crash_at_the_end_of_epoch_2(path, model, optimizer, generators, position, *rest):
        if (position.epoch, position.batch) == (2, 0):
            raise MemoryError("killed")
        save(path, model, optimizer, generators, position, *rest)

    reference = tmp_path / "reference"
    Trainer(_spec(checkpoint_every=every), reference, stream=None).fit()
    monkeypatch.setattr(checkpoint, "save_checkpoint", crash_at_the_end_of_epoch_2)
    run = tmp_path / "run"
    with pytest.raises(MemoryError):
        Trainer(_spec(checkpoint_every=every), run, stream=None).fit()
    assert len(list(csv.DictReader((run / "metrics.csv").open()))) == 2  # epoch 2 was logged
    assert len((run / "history.jsonl").read_text().splitlines()) == 2  # and recorded
    monkeypatch.undo()
    assert main(["train", "--resume", str(run), "-q"]) == 0  # epoch 2's end again
    _assert_same_run(run, reference)


@pytest.mark.parametrize(
    ("signum", "status"),
    [pytest.param(signal.SIGINT, 130, id="ctrl-c"), pytest.param(signal.SIGTERM, 143, id="term")],
)
def test_a_signal_saves_a_checkpoint_and_the_resume_is_exact(
    tmp_path, monkeypatch, uninterrupted, signum, status
):
    _at_step(monkeypatch, 11, lambda: os.kill(os.getpid(), signum))
    run = tmp_path / "run"
    with pytest.raises(TrainingInterrupted, match="interrupted at step 11 \\(epoch 2\\)") as info:
        Trainer(_spec(), run, stream=None).fit()
    assert info.value.exit_status == status
    assert signal.getsignal(signum) is not None  # the trainer put the old handler back
    assert read_tensors(run / "checkpoint.safetensors")[1]["position"]["step"] == 11
    monkeypatch.undo()
    assert main(["train", "--resume", str(run), "-q"]) == 0
    _assert_same_run(run, uninterrupted)


# --- kill -9 while a checkpoint is being written ---------------------------------------------

_WRITER = textwrap.dedent(
    """
    import os, pathlib, sys, time
    import torch
    from genkit_core.training.checkpoint import Position, save_checkpoint

    torch.set_num_threads(1)
    path, mode = pathlib.Path(sys.argv[1]), sys.argv[2]
    model = torch.nn.Linear(256, 1024)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.ones(1, 256)).sum().backward()
    optimizer.step()
    generators = {"noise": torch.Generator().manual_seed(0)}

    def save(step):
        with torch.no_grad():
            model.weight.fill_(step)
        save_checkpoint(path, model, {"model": optimizer}, generators, Position(step=step),
                        torch.zeros(3, dtype=torch.float64))
        print("saved", step, flush=True)

    def pause(*args, **kwargs):
        print("paused", flush=True)
        time.sleep(60)

    save(1)
    if mode == "half-written":  # the temporary file holds half the bytes
        def half(self, data):
            with open(self, "wb") as f:
                f.write(data[: len(data) // 2])
                f.flush()
            pause()
        pathlib.Path.write_bytes = half
    elif mode == "before-rename":  # the temporary file is complete and synced
        os.replace = pause
    step = 2
    while True:
        save(step)
        step += 1
    """
)


def _writer(tmp_path: Path, mode: str) -> tuple[subprocess.Popen[str], Path]:
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    path = tmp_path / "checkpoint.safetensors"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(path), mode],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[3],
    )  # fmt: skip
    return proc, path


def _assert_loads(path: Path) -> int:
    """The checkpoint loads whole, and its weights are those of the step it says it is."""
    model = torch.nn.Linear(256, 1024)
    optimizer = torch.optim.Adam(model.parameters())
    sums = torch.zeros(3, dtype=torch.float64)
    generators = {"noise": torch.Generator()}
    position = load_checkpoint(path, model, {"model": optimizer}, generators, sums)
    assert isinstance(position, Position)
    assert bool((model.weight == position.step).all())
    assert optimizer.state_dict()["state"][0]["exp_avg"].shape == (1024, 256)
    return position.step


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["half-written", "before-rename"])
def test_kill_9_while_writing_leaves_the_previous_checkpoint_loadable(tmp_path, mode):
    proc, path = _writer(tmp_path, mode)
    try:
        lines = [proc.stdout.readline().strip(), proc.stdout.readline().strip()]
        assert lines == ["saved 1", "paused"], lines
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert _assert_loads(path) == 1
    assert list(tmp_path.glob(".checkpoint.safetensors.*.tmp"))  # the torn write, left behind


@pytest.mark.slow
def test_kill_9_at_random_times_always_leaves_a_loadable_checkpoint(tmp_path):
    chance = random.Random(0)
    for attempt in range(2):
        proc, path = _writer(tmp_path, "loop")
        try:
            assert proc.stdout.readline().strip() == "saved 1"
            time.sleep(chance.uniform(0.0, 0.4))
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait(timeout=10)
        step = _assert_loads(path)
        assert step >= 1, f"attempt {attempt}"


# --- Ctrl-C and SIGTERM through the command ---------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("signum", "status"),
    [pytest.param(signal.SIGINT, 130, id="ctrl-c"), pytest.param(signal.SIGTERM, 143, id="term")],
)
def test_the_command_saves_and_exits_with_one_line_on_a_signal(tmp_path, signum, status):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(_spec(epochs=100_000, checkpoint_every=None)))
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "genkit_core", "train", str(spec), "-o", str(run), "-q"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not (run / "metrics.csv").is_file() and proc.poll() is None:
        assert time.monotonic() < deadline, "training did not start"
        time.sleep(0.05)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("genkit: interrupted at step ")
    assert f"checkpoint saved. Continue with: genkit train --resume {run}" in err
    step = int(err.split("at step ")[1].split()[0])
    assert read_tensors(run / "checkpoint.safetensors")[1]["position"]["step"] == step


def test_checkpoints_are_written_every_n_steps_and_at_each_epoch_end(tmp_path, monkeypatch):
    from genkit_core.training import checkpoint

    written: list[tuple[int, int, int]] = []
    save = checkpoint.save_checkpoint

    def record(path, model, optimizer, generators, position, *rest):
        written.append((position.step, position.epoch, position.batch))
        save(path, model, optimizer, generators, position, *rest)

    monkeypatch.setattr(checkpoint, "save_checkpoint", record)
    Trainer(_spec(epochs=2, checkpoint_every=3), tmp_path / "run", stream=None).fit()
    steps = [step for step, _, _ in written]
    assert steps == [0, 3, 6, 8, 9, 12, 15, 16]  # every 3 steps, and epoch ends (8, 16)
    assert (8, 1, 0) in written and (16, 2, 0) in written
