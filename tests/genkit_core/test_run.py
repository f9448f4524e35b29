"""Run directories: never overwritten by accident, checked for room and permission before
training, and read back only from safetensors, refusing damaged or foreign files by name.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections import namedtuple
from pathlib import Path

import pytest
import torch

from genkit_core import RunError
from genkit_core.cli import main
from genkit_core.files import read_tensors, write_tensors
from genkit_core.run import load_run, prepare_run_dir
from genkit_core.testing import fresh_registry
from genkit_core.training import Trainer

# --- output safety ----------------------------------------------------------------------------


def test_an_existing_run_is_not_overwritten_without_overwrite(tmp_path: Path, spec_dict) -> None:
    run = tmp_path / "run"
    Trainer(spec_dict(), run, stream=None).fit()
    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir()}
    with pytest.raises(RunError, match=r"run: already holds files; pass --overwrite .* --resume"):
        Trainer(spec_dict(), run, stream=None).fit()
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir()} == before


def test_overwrite_removes_genkits_own_files_and_nothing_else(tmp_path: Path, spec_dict) -> None:
    run = tmp_path / "run"
    Trainer(spec_dict(model="ae"), run, stream=None).fit()
    (run / "samples.png").write_bytes(b"a stale picture")  # an ae draws no samples
    (run / "notes.txt").write_text("mine")
    (run / "data").mkdir()
    (run / "data" / "x.npy").write_bytes(b"mine too")
    Trainer(spec_dict(), run, overwrite=True, stream=None).fit()  # now a vae
    assert (run / "notes.txt").read_text() == "mine"
    assert (run / "data" / "x.npy").read_bytes() == b"mine too"
    assert (run / "samples.png").read_bytes() != b"a stale picture"
    assert "model: vae" in (run / "spec.yaml").read_text()


def test_overwrite_removes_the_temporaries_of_killed_writes(tmp_path: Path) -> None:
    (tmp_path / ".checkpoint.safetensors.abc123.tmp").write_bytes(b"torn")
    (tmp_path / ".hidden-user-file.tmp").write_bytes(b"not ours")
    prepare_run_dir(tmp_path, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == [".hidden-user-file.tmp"]


def test_a_run_directory_below_a_file_is_refused_before_training(tmp_path: Path, spec_dict):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(RunError, match=r"a-file/run: cannot write the run directory \(Not a dir"):
        Trainer(spec_dict(), tmp_path / "a-file" / "run", stream=None).fit()


def test_an_unwritable_directory_is_refused_before_training(tmp_path: Path, monkeypatch, spec_dict):
    """As root every directory is writable, so the refusal is simulated at the write itself."""
    write_bytes = Path.write_bytes

    def refuse(self: Path, data: bytes) -> int:
        if self.parent.name == "run":
            raise PermissionError(13, "Permission denied", str(self))
        return write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", refuse)
    with pytest.raises(RunError, match=r"run: cannot write the run directory \(Permission denied"):
        Trainer(spec_dict(), tmp_path / "run", stream=None).fit()
    assert not list((tmp_path / "run").iterdir())


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write a read-only directory")
def test_a_read_only_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "locked").mkdir(mode=0o500)
    with pytest.raises(RunError, match="cannot write the run directory"):
        prepare_run_dir(tmp_path / "locked" / "run")


_Usage = namedtuple("_Usage", "total used free")


@pytest.mark.parametrize("resume", [False, True], ids=["new", "resume"])
def test_a_full_disk_is_refused_before_training(tmp_path: Path, monkeypatch, spec_dict, resume):
    run = tmp_path / "run"
    if resume:
        Trainer(spec_dict(), run, stream=None).fit()
    steps = []
    monkeypatch.setattr(shutil, "disk_usage", lambda path: _Usage(1 << 40, 1 << 40, 10 << 20))
    monkeypatch.setattr("genkit_core.training.step.TrainStep._body", lambda *a: steps.append(a))
    more = ["train.epochs=2"] if resume else []  # a finished run resumed as it is trains nothing
    spec = None if resume else spec_dict()
    trainer = Trainer(spec, run, resume=resume, overrides=more, stream=None)
    with pytest.raises(RunError, match=r"run: only 10 MiB free, and this run needs about \d+ MiB"):
        trainer.fit()
    assert not steps


def test_the_free_space_asked_for_grows_with_the_model(tmp_path: Path, monkeypatch) -> None:
    """Seven copies of the weights: the checkpoint (weights and two Adam moments), its
    replacement while it is written, and model.safetensors; plus 64 MiB."""
    monkeypatch.setattr(shutil, "disk_usage", lambda path: _Usage(0, 0, (64 + 70) << 20))
    prepare_run_dir(tmp_path / "fits", model_bytes=10 << 20)
    with pytest.raises(RunError, match="needs about 148 MiB"):
        prepare_run_dir(tmp_path / "does-not", model_bytes=12 << 20)


def test_a_failed_write_during_training_is_one_line_and_keeps_the_checkpoint(
    tmp_path: Path, monkeypatch, spec_dict, write_spec, capsys
) -> None:
    write_bytes = Path.write_bytes

    def disk_fills_after_step_0(self: Path, data: bytes) -> int:
        checkpoint = self.parent / "checkpoint.safetensors"
        if self.name.startswith(".checkpoint.safetensors.") and checkpoint.exists():
            raise OSError(28, "No space left on device")
        return write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", disk_fills_after_step_0)
    run = tmp_path / "run"
    assert main(["train", str(write_spec(spec_dict())), "-o", str(run), "-q"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "checkpoint.safetensors: cannot write it (No space left on device); the previous" in err
    assert re.search(r"Its disk has [\d.]+ \w+ free and it needs [\d.]+ KiB: free some", err)
    assert read_tensors(run / "checkpoint.safetensors")[1]["position"]["step"] == 0
    assert not list(run.glob(".*.tmp"))
    monkeypatch.undo()  # room again: the run continues from the intact checkpoint
    assert main(["train", "--resume", str(run), "-q"]) == 0
    assert read_tensors(run / "checkpoint.safetensors")[1]["position"]["step"] == 8


# --- untrusted files ---------------------------------------------------------------------------


def _damage(run: Path, name: str, how: str) -> None:
    path = run / name
    if how == "truncated":
        path.write_bytes(path.read_bytes()[:1000])
    elif how == "garbage":
        path.write_bytes(os.urandom(4096))
    elif how == "pickle":  # what torch.save writes: never read
        torch.save({"head.weight": torch.zeros(1)}, path)
    else:
        tensors, meta = read_tensors(path)
        prefix = "model/" if name.startswith("checkpoint") else ""
        if how == "missing-key":
            del tensors[f"{prefix}posterior.head.weight"]
        elif how == "wrong-shape":
            tensors[f"{prefix}posterior.head.weight"] = torch.zeros(3, 3)
        elif how == "integers":
            tensors[f"{prefix}posterior.head.weight"] = torch.ones(6, 32, dtype=torch.int64)
        elif how == "nan":  # written by genkit's writer, so its hash matches
            tensors[f"{prefix}posterior.head.weight"][0, 0] = float("nan")
        elif how == "bad-metadata":
            meta = {**meta, "data": {"shape": "not a shape"}, "position": [1, 2]}
        write_tensors(path, tensors, meta)


_DAMAGES = [
    pytest.param("truncated", "not a readable safetensors file", id="truncated"),
    pytest.param("garbage", "not a readable safetensors file", id="garbage"),
    pytest.param("pickle", "not a readable safetensors file", id="a-pickle"),
    pytest.param(
        "missing-key", r"do not fit .* \(missing posterior\.head\.weight\)", id="missing-key"
    ),
    pytest.param(
        "wrong-shape", r"shape mismatch posterior\.head\.weight \(3, 3\) vs \(6, 32\)", id="shape"
    ),
    pytest.param(
        "integers", r"dtype mismatch posterior\.head\.weight int64 vs float32", id="integers"
    ),
    pytest.param("nan", r"its tensor posterior\.head\.weight holds NaN or inf values", id="nan"),
]


@pytest.fixture
def fresh_run(tmp_path: Path, trained_runs) -> Path:
    run = tmp_path / "run"
    shutil.copytree(trained_runs["vae"], run)
    return run


@pytest.mark.parametrize(("how", "message"), _DAMAGES)
def test_a_damaged_model_file_is_a_run_error_naming_it(fresh_run: Path, how: str, message: str):
    _damage(fresh_run, "model.safetensors", how)
    with pytest.raises(RunError, match=rf"run/model\.safetensors: .*{message}"):
        load_run(fresh_run)


@pytest.mark.parametrize(("how", "message"), _DAMAGES)
def test_resuming_from_a_damaged_checkpoint_is_a_run_error_naming_it(fresh_run, how, message):
    _damage(fresh_run, "checkpoint.safetensors", how)
    with pytest.raises(RunError, match=rf"run/checkpoint\.safetensors: .*{message}"):
        Trainer(None, fresh_run, resume=True, overrides=["train.epochs=3"], stream=None).fit()


@pytest.mark.parametrize("name", ["model.safetensors", "checkpoint.safetensors"])
def test_tampered_metadata_is_a_run_error_naming_the_file(fresh_run: Path, name: str) -> None:
    _damage(fresh_run, name, "bad-metadata")
    with pytest.raises(RunError, match=rf"run/{name}: "):
        if name == "model.safetensors":
            load_run(fresh_run)
        else:
            Trainer(None, fresh_run, resume=True, overrides=["train.epochs=3"], stream=None).fit()


def test_the_cli_reports_a_damaged_run_in_one_line(fresh_run: Path, capsys) -> None:
    _damage(fresh_run, "model.safetensors", "truncated")
    assert main(["eval", str(fresh_run), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "model.safetensors: not a readable safetensors file" in err


def test_genkit_report_on_non_finite_weights_is_one_line(fresh_run: Path, capsys) -> None:
    # the original report: numpy's LinAlgError from the latent plot's PCA
    _damage(fresh_run, "model.safetensors", "nan")
    assert main(["report", str(fresh_run), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "model.safetensors: its tensor posterior.head.weight" in err


def test_overwrite_clears_the_record_and_plots_a_run_owns(tmp_path: Path):
    """Loggers' files (metrics.csv, event files) are the loggers' to replace: see their tests."""
    run = tmp_path / "run"
    owned = ["model.safetensors", "history.jsonl", "report.html", "latent.png", "curves.png",
             "interpolation.png", "traversal.png"]  # fmt: skip
    run.mkdir()
    for name in [*owned, "notes.txt"]:
        (run / name).write_text("old")
    prepare_run_dir(run, overwrite=True)
    assert sorted(p.name for p in run.iterdir()) == ["notes.txt"]


def _zero_the_end(path: Path, count: int = 1000) -> None:
    data = bytearray(path.read_bytes())
    data[-count:] = bytes(count)
    path.write_bytes(bytes(data))


def test_zeroed_weights_are_found_and_the_intact_checkpoint_is_named(fresh_run: Path, capsys):
    # the original report: zeroing the last 1,000 bytes of model.safetensors loaded without a
    # word and changed the metrics
    _zero_the_end(fresh_run / "model.safetensors")
    assert main(["eval", str(fresh_run), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "run/model.safetensors: its tensors do not match the hash genkit recorded" in err
    assert "or use checkpoint.safetensors beside it, which is intact (step 12): delete " in err
    (fresh_run / "model.safetensors").unlink()  # the advice works
    assert load_run(fresh_run).kind == "vae"


def test_damage_to_both_files_names_only_the_weights(fresh_run: Path):
    _zero_the_end(fresh_run / "model.safetensors")
    _zero_the_end(fresh_run / "checkpoint.safetensors")
    with pytest.raises(RunError, match=r"model\.safetensors: its tensors do not match") as info:
        load_run(fresh_run)
    assert "checkpoint" not in str(info.value)


def test_a_zeroed_checkpoint_is_refused_on_resume(fresh_run: Path):
    _zero_the_end(fresh_run / "checkpoint.safetensors")
    with pytest.raises(RunError, match=r"checkpoint\.safetensors: its tensors do not match"):
        Trainer(None, fresh_run, resume=True, overrides=["train.epochs=3"], stream=None).fit()


# --- a spec.yaml edited after training, and the plugins a run names -----------------------------


def _edit_spec(run: Path, old: str, new: str) -> None:
    text = (run / "spec.yaml").read_text()
    assert old in text
    (run / "spec.yaml").write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        pytest.param("latent_dim: 3", "latent_dim: 7", r"latent_dim \(3 -> 7\)", id="shapes"),
        pytest.param("beta: 1.0", "beta: 4.0", r"divergence\.beta \(1\.0 -> 4\.0\)", id="beta"),
    ],
)
def test_a_spec_edited_after_training_is_refused_naming_the_field(
    fresh_run: Path, old: str, new: str, message: str
) -> None:
    _edit_spec(fresh_run, old, new)
    with pytest.raises(RunError, match=rf"run/spec\.yaml: {message} changed after model\."):
        load_run(fresh_run)


def test_training_and_data_fields_may_change_after_training(fresh_run: Path) -> None:
    _edit_spec(fresh_run, "epochs: 2", "epochs: 5")
    _edit_spec(fresh_run, "max_test: 64", "max_test: 32")  # evaluate on other data
    assert load_run(fresh_run).spec.train.epochs == 5


def test_eval_imports_no_module_a_runs_plugins_names_without_trust_plugins(
    fresh_run: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setattr("genkit_core.registry._default", fresh_registry())  # left as it was
    marker = tmp_path / "ran"
    (tmp_path / "stranger_plugin.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    _edit_spec(fresh_run, "plugins: []", "plugins: [stranger_plugin]")
    for verb in (["eval"], ["report"], ["sample"], ["compare", "--no-page"]):
        assert main([*verb, str(fresh_run), "--device", "cpu"]) == 1
        err = capsys.readouterr().err
        assert "plugins.0: plugin module 'stranger_plugin' is not an installed genkit plugin" in err
        assert "--trust-plugins" in err and not marker.exists(), verb
    main(["eval", str(fresh_run), "--device", "cpu", "--trust-plugins"])
    sys.modules.pop("stranger_plugin", None)
    assert marker.exists()  # the user said so
