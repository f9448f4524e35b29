"""The trainer's epoch-end files are written on the background writer's thread."""

from __future__ import annotations

import threading

import genkit_core.files as files
from genkit_core.testing import TINY_SPEC, tiny_spec
from genkit_core.training import Trainer

SPEC = tiny_spec(train={**TINY_SPEC["train"], "epochs": 2, "batch_size": 128})


def test_weights_checkpoints_and_pictures_are_written_off_the_training_thread(
    tmp_path, monkeypatch
):
    writes: list[tuple[str, bool]] = []
    write_now = files._write_now

    def recorded(path, write, need):
        writes.append((path.name, threading.current_thread() is threading.main_thread()))
        write_now(path, write, need)

    monkeypatch.setattr(files, "_write_now", recorded)
    Trainer(SPEC, tmp_path / "run", stream=None).fit()
    on_main = {name for name, main in writes if main}
    deferred = {name for name, main in writes if not main}
    assert on_main == {"spec.yaml"}  # written once, before training
    assert deferred == {
        "checkpoint.safetensors",
        "model.safetensors",
        "samples.png",
        "reconstructions.png",
    }
    assert [name for name, _ in writes].count("checkpoint.safetensors") == 3  # step 0, 2 epochs
    for name in deferred:
        assert (tmp_path / "run" / name).stat().st_size > 0


def test_the_writer_thread_runs_no_torch_computation(tmp_path, monkeypatch):
    """A torch operation on the writer's thread gave it an OpenMP pool of its own; with more
    OpenMP threads than cores, the training thread's pool slept between operations and the steps
    on two threads ran 1.2x slower (docs/performance.md). The writer may look at tensors (views),
    never compute with them.
    """
    from torch.utils._python_dispatch import TorchDispatchMode

    class Computing(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.ops: set[str] = set()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if not func.is_view:
                self.ops.add(str(func))
            return func(*args, **(kwargs or {}))

    computed: dict[str, set[str]] = {}
    write_now = files._write_now

    def recorded(path, write, need):
        with Computing() as mode:
            write_now(path, write, need)
        if threading.current_thread() is not threading.main_thread():
            computed.setdefault(path.name, set()).update(mode.ops)

    monkeypatch.setattr(files, "_write_now", recorded)
    Trainer(SPEC, tmp_path / "run", stream=None).fit()
    assert set(computed) >= {"checkpoint.safetensors", "model.safetensors", "samples.png"}
    assert {name: ops for name, ops in computed.items() if ops} == {}
