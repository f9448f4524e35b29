"""What the train verb does to run directories: the default one, --overwrite, --resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from genkit_core.cli import main

QUICK = ["--set", "train.epochs=1", "-q"]


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch, spec_dict) -> Path:
    """A working directory holding vae.yaml, a tiny spec; its default run is runs/vae."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "vae.yaml").write_text(yaml.safe_dump(spec_dict()))
    return tmp_path


@pytest.mark.slow
def test_the_default_run_directory_is_refused_then_replaced_with_overwrite(in_tmp: Path, capsys):
    # the original report: --overwrite without -o wrote runs/vae-1, runs/vae-2, ...
    assert main(["train", "vae.yaml", *QUICK]) == 0
    first = (in_tmp / "runs/vae/model.safetensors").read_bytes()
    assert main(["train", "vae.yaml", *QUICK]) == 1
    err = capsys.readouterr().err
    assert "runs/vae: already holds files; pass --overwrite to replace the run" in err
    assert (in_tmp / "runs/vae/model.safetensors").read_bytes() == first
    assert main(["train", "vae.yaml", "--overwrite", *QUICK, "--set", "train.seed=1"]) == 0
    assert f"trained vae in {Path('runs/vae')}" in capsys.readouterr().out
    assert sorted(p.name for p in (in_tmp / "runs").iterdir()) == ["vae"]
    assert (in_tmp / "runs/vae/model.safetensors").read_bytes() != first
    assert "seed: 1" in (in_tmp / "runs/vae/spec.yaml").read_text()
