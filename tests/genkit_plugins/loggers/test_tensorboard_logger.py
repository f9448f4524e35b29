from __future__ import annotations

import csv
import sys
import threading
from pathlib import Path
from typing import ClassVar

import pytest

from genkit_core import Component, Logger, Params, RunError, SpecError, hookimpl
from genkit_core.components import build_component
from genkit_core.spec import load_spec
from genkit_core.training import Trainer
from genkit_plugins.loggers.tensorboard_logger import TensorBoardLogger, TensorBoardParams, tag

event_accumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator",
    reason="tensorboard is in the dev extra; pip install tensorboard",
)


def _scalars(log_dir: Path) -> dict[str, list[tuple[int, float]]]:
    acc = event_accumulator.EventAccumulator(str(log_dir))
    acc.Reload()
    return {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"]}


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        pytest.param("train_loss", "loss/train", id="train"),
        pytest.param("test_divergence", "divergence/test", id="test"),
        pytest.param("lr", "lr", id="other"),
        pytest.param("train_", "train_", id="no-term"),
    ],
)
def test_columns_become_term_slash_split_tags(column, expected):
    assert tag(column) == expected


def test_logged_rows_read_back_from_the_event_files(tmp_path: Path):
    logger = TensorBoardLogger(TensorBoardParams(), tmp_path)
    logger.start({}, None)
    logger.log({"epoch": 1, "step": 10, "train_loss": 3.5, "lr": 1e-3}, 10)
    logger.log({"epoch": 2, "step": 20, "train_loss": 2.25, "test_loss": 2.5, "lr": 1e-3}, 20)
    logger.close()
    scalars = _scalars(tmp_path / "tensorboard")
    assert scalars["loss/train"] == [(10, 3.5), (20, 2.25)]
    assert scalars["loss/test"] == [(20, 2.5)]
    assert scalars["epoch"] == [(10, 1.0), (20, 2.0)]
    assert "step" not in scalars


def test_a_run_logs_the_same_numbers_to_csv_and_tensorboard(tmp_path: Path, spec_dict):
    spec = spec_dict(logging=[{"type": "csv"}, {"type": "tensorboard"}])
    spec["train"]["epochs"] = 2
    Trainer(spec, tmp_path / "run", stream=None).fit()
    with (tmp_path / "run" / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    scalars = _scalars(tmp_path / "run" / "tensorboard")
    for column in ("train_loss", "test_loss", "train_divergence", "test_reconstruction"):
        expected = [(int(r["step"]), float(r[column])) for r in rows]
        got = scalars[tag(column)]
        assert [s for s, _ in got] == [s for s, _ in expected]
        assert [v for _, v in got] == pytest.approx([v for _, v in expected], rel=1e-6)


def test_without_tensorboard_the_spec_error_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(SpecError, match=r"logging\.type: .*pip install tensorboard"):
        build_component("logging", _section("tensorboard"), run_dir=tmp_path)


class _JSONLinesLogger(Logger):
    """A third party's logger: one JSON object per line."""

    Params = Params

    def log(self, metrics: dict[str, float], step: int) -> None:
        import json

        with (self.run_dir / "metrics.jsonl").open("a") as f:
            f.write(json.dumps(metrics) + "\n")


class _ThirdParty:
    @hookimpl
    def genkit_components(self) -> list[Component]:
        return [Component("jsonl", _JSONLinesLogger)]


def test_a_third_party_adds_a_logger_the_same_way(tmp_path: Path, spec_dict, builtins_registry):
    builtins_registry.register_plugin(_ThirdParty(), name="third", package="genkit-jsonl")
    spec = spec_dict(logging=[{"type": "jsonl"}])
    Trainer(spec, tmp_path / "run", registry=builtins_registry, stream=None).fit()
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 1 and '"train_loss"' in lines[0]


def _section(name: str):
    spec = load_spec(
        {"model": "ae", "latent_dim": 2, "data": {"type": "digits"}, "encoder": {"type": "mlp"},
         "decoder": {"type": "mlp"}, "logging": [{"type": name}]}
    )  # fmt: skip
    return spec.logging[0]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_full_disk_is_a_run_error_naming_the_event_folder(tmp_path: Path, monkeypatch) -> None:
    from tensorboard.summary.writer import event_file_writer, record_writer

    def full(self, data):
        raise OSError(28, "No space left on device")

    logger = TensorBoardLogger(TensorBoardParams(flush_secs=1), tmp_path)
    logger.start({}, None)
    monkeypatch.setattr(record_writer.RecordWriter, "write", full)
    with pytest.raises(RunError, match=r"tensorboard: cannot write it \(No space left on dev"):
        for step in range(100):  # the writer's thread fails; a later row or the close says so
            logger.log({"train_loss": 1.0}, step)
        logger.close()
    for thread in threading.enumerate():  # its failure is reported inside this test
        if isinstance(thread, event_file_writer._AsyncWriterThread):
            thread.join(timeout=10)


@pytest.mark.parametrize(("resumed", "kept"), [(None, False), (1, True)])
def test_a_new_run_replaces_earlier_event_files_and_a_resumed_one_keeps_them(
    tmp_path: Path, resumed, kept
):
    old = tmp_path / "tensorboard" / "events.out.tfevents.1"
    old.parent.mkdir()
    old.write_bytes(b"old")
    logger = TensorBoardLogger(TensorBoardParams(), tmp_path)
    logger.start({}, resumed)
    logger.close()
    assert old.exists() == kept


class _StatusLogger(Logger):
    """Remembers how the run ended (test only)."""

    Params = Params
    closed: ClassVar[list[str]] = []

    def log(self, metrics: dict[str, float], step: int) -> None:
        pass

    def close(self, status: str = "finished") -> None:
        _StatusLogger.closed.append(status)


class _StatusPlugin:
    @hookimpl
    def genkit_components(self) -> list[Component]:
        return [Component("status", _StatusLogger)]


def test_a_last_write_that_fails_still_closes_every_logger_as_failed(
    tmp_path: Path, spec_dict, builtins_registry, monkeypatch
):
    """The last weights are written in the background; their failure must not skip closing
    the loggers (an MLflow run would stay RUNNING)."""
    from genkit_core import files

    builtins_registry.register_plugin(_StatusPlugin(), name="status")
    _StatusLogger.closed.clear()
    write_now = files._write_now

    def full_disk_for_the_weights(path, write, need):
        if path.name == "model.safetensors":
            raise RunError(f"{path}: the disk is full")
        write_now(path, write, need)

    monkeypatch.setattr(files, "_write_now", full_disk_for_the_weights)
    spec = spec_dict(logging=[{"type": "status"}])
    with pytest.raises(RunError, match="the disk is full"):
        Trainer(spec, tmp_path / "run", registry=builtins_registry, stream=None).fit()
    assert _StatusLogger.closed == ["failed"]
