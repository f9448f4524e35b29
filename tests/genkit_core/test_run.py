"""Run directories: what --overwrite clears, and what it leaves alone."""

from __future__ import annotations

from pathlib import Path

from genkit_core.run import prepare_run_dir


def test_overwrite_clears_the_files_a_run_owns_and_nothing_else(tmp_path: Path):
    run = tmp_path / "run"
    owned = ["model.safetensors", "metrics.csv", "report.html", "latent.png", "curves.png",
             "interpolation.png", "traversal.png"]  # fmt: skip
    (run / "tensorboard").mkdir(parents=True)
    (run / "tensorboard" / "events.out.tfevents.1").write_bytes(b"old")
    for name in [*owned, "notes.txt"]:
        (run / name).write_text("old")
    prepare_run_dir(run, overwrite=True)
    assert sorted(p.name for p in run.iterdir()) == ["notes.txt"]
