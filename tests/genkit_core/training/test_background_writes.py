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
