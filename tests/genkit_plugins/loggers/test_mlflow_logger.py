"""The mlflow logger, read back with MLflow's own client from a sqlite store (MLflow's default
kind of store) shared by the module: creating one costs seconds."""

from __future__ import annotations

import json
import math
import shutil
import socket
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

from genkit_core import GenkitWarning, RunError, SpecError
from genkit_core.cli import main
from genkit_core.components import build_component
from genkit_core.spec import load_spec
from genkit_core.testing import TINY_SPEC, tiny_spec
from genkit_core.training import Trainer
from genkit_plugins.loggers.mlflow_logger import RUN_FILE, MLflowLogger, MLflowParams, flat_params

mlflow = pytest.importorskip("mlflow", reason="mlflow-skinny is in the dev extra")
from mlflow import MlflowClient  # noqa: E402
from sqlalchemy import event  # noqa: E402 - MLflow's sqlite store is SQLAlchemy's
from sqlalchemy.engine import Engine  # noqa: E402

SPEC: dict[str, Any] = {
    "model": "vae", "latent_dim": 4, "name": "tiny",
    "data": {"type": "digits", "max_train": 256},
    "encoder": {"type": "mlp", "hidden": [32, 16]},
    "decoder": {"type": "mlp", "hidden": [32]},
    "train": {"epochs": 3, "lr": 0.001, "device": "cpu"},
    "logging": [{"type": "csv"}, {"type": "mlflow", "tracking_uri": None}],
}  # fmt: skip

ROWS: list[dict[str, Any]] = [
    {"epoch": 1, "step": 4, "seconds": 0.5, "lr": 0.001, "train_loss": 9.5, "note": "x"},
    {"epoch": 2, "step": 8, "seconds": 0.4, "lr": 0.001, "train_loss": 7.25, "test_loss": 8.0},
    {"epoch": 3, "step": 12, "seconds": 0.4, "lr": 0.0005, "train_loss": math.nan, "ok": True},
]
"""Rows as the trainer sends them; ``note`` and ``ok`` are not numbers, NaN is a skipped epoch."""

FILES = ("spec.yaml", "model.safetensors", "samples.png", "reconstructions.png", "metrics.csv")


pytestmark = pytest.mark.filterwarnings(
    "ignore:The ``noload`` loader strategy is deprecated"  # MLflow's store, on SQLAlchemy 2.1
)


def _without_fsync(connection: Any, record: Any) -> None:
    connection.execute("PRAGMA synchronous=OFF")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A sqlite store whose experiments keep their artifacts beside it, not in the cwd."""
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root}/mlflow.db"
    # MLflow builds its tables in some 60 migrations, each synced to disk: 20 s where fsync is
    # slow, 4 s without (what these tests check does not need the store to survive a crash)
    event.listen(Engine, "connect", _without_fsync)
    try:
        client = MlflowClient(uri)
        for name in ("tests", "tiny"):
            client.create_experiment(name, artifact_location=(root / name).as_uri())
    finally:
        event.remove(Engine, "connect", _without_fsync)
    return uri


def _logger(run_dir: Path, store: str, **params: Any) -> MLflowLogger:
    run_dir.mkdir(exist_ok=True)
    return MLflowLogger(MLflowParams(tracking_uri=store, **params), run_dir)


def _history(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, float]]:
    metrics = sorted(client.get_metric_history(run_id, key), key=lambda m: (m.step, m.timestamp))
    return [(m.step, m.value) for m in metrics]


def _files(run_dir: Path) -> None:
    for name in FILES:
        (run_dir / name).write_bytes(name.encode())


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({"a": {"b": 1, "c": "x"}}, {"a.b": "1", "a.c": "x"}, id="nested"),
        pytest.param({"hidden": [32, 16]}, {"hidden": "[32, 16]"}, id="list-of-numbers"),
        pytest.param({"logging": [{"type": "csv"}, {"type": "mlflow"}]},
                     {"logging.0.type": "csv", "logging.1.type": "mlflow"}, id="list-of-sections"),
        pytest.param({"x": None, "y": True, "z": {}}, {"x": "null", "y": "true", "z": "{}"},
                     id="json-values"),
        pytest.param({"t": {"a:b/c": "1", "a_b_c": "2"}}, {"t.a_b_c": "1", "t.a_b_c_": "2"},
                     id="refused-characters"),
        pytest.param({".hidden": 1}, {"hidden": "1"}, id="leading-dot"),
        pytest.param({"long": "v" * 7000}, {"long": "v" * 5997 + "..."}, id="over-6000-chars"),
        pytest.param({"uri": "postgresql://ml:pa:ss@db:5432/ml", "web": "http://db:5000/x"},
                     {"uri": "postgresql://ml:***@db:5432/ml", "web": "http://db:5000/x"},
                     id="passwords-masked"),
    ],
)  # fmt: skip
def test_the_spec_becomes_params_mlflow_accepts(spec, expected):
    assert flat_params(spec) == expected


@pytest.fixture(scope="module")
def logged(store: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[MLflowLogger, Path]:
    """A run logged to its end: start, three rows, the run directory's files, close."""
    run_dir = tmp_path_factory.mktemp("run")
    logger = _logger(run_dir, store, tags={"team": "vision"})
    logger.start(SPEC, None)
    for row in ROWS:
        logger.log(row, row["step"])
    _files(run_dir)
    logger.close("finished")
    return logger, run_dir


def test_each_row_reads_back_at_its_step(logged, store):
    logger, _ = logged
    client = MlflowClient(store)
    assert logger.run_id is not None
    for key in ("epoch", "seconds", "lr", "test_loss"):
        expected = [(r["step"], float(r[key])) for r in ROWS if key in r]
        assert _history(client, logger.run_id, key) == expected
    (s1, v1), (s2, v2), (s3, v3) = _history(client, logger.run_id, "train_loss")
    assert (s1, v1, s2, v2, s3) == (4, 9.5, 8, 7.25, 12) and math.isnan(v3)
    assert set(client.get_run(logger.run_id).data.metrics) == {
        "epoch", "seconds", "lr", "train_loss", "test_loss",
    }  # fmt: skip


def test_the_run_has_the_spec_tags_files_and_finished(logged, store):
    logger, run_dir = logged
    client = MlflowClient(store)
    run = client.get_run(logger.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == run_dir.name
    assert run.data.params["latent_dim"] == "4"
    assert run.data.params["encoder.hidden"] == "[32, 16]"
    assert run.data.params["train.lr"] == "0.001"
    assert run.data.params["logging.1.type"] == "mlflow"
    assert len(run.data.params) == 15
    assert run.data.tags["team"] == "vision"
    assert run.data.tags["genkit.model"] == "vae"
    assert client.get_experiment(run.info.experiment_id).name == "tiny"  # the spec's name
    assert sorted(a.path for a in client.list_artifacts(logger.run_id)) == sorted(FILES)
    found = client.search_runs([run.info.experiment_id], "tags.team = 'vision'")
    assert [r.info.run_id for r in found] == [logger.run_id]
    saved = json.loads((run_dir / RUN_FILE).read_text())
    entry = {"logger": f"{store} (default)", "tracking_uri": store, "run_id": logger.run_id}
    assert saved == {"runs": [entry]}


def test_a_resumed_run_goes_on_in_the_same_mlflow_run(tmp_path, store):
    first = _logger(tmp_path / "run", store, experiment="tests")
    first.start(SPEC, None)
    for row in ROWS:  # epoch 3 is logged, then the run is killed before its checkpoint
        first.log(row, row["step"])
    _files(tmp_path / "run")
    first.close("interrupted")
    client = MlflowClient(store)
    run = client.get_run(first.run_id)
    assert run.info.status == "KILLED" and client.list_artifacts(first.run_id) == []

    second = _logger(tmp_path / "run", store, experiment="tests")
    second.start({**SPEC, "train": {**SPEC["train"], "epochs": 4}}, 2)
    assert second.run_id == first.run_id
    assert client.get_run(first.run_id).info.status == "RUNNING"
    again = [{**ROWS[2], "train_loss": 6.0}, {**ROWS[2], "epoch": 4, "step": 16, "train_loss": 5.5}]
    for row in again:
        second.log(row, row["step"])
    second.close("finished")
    run = client.get_run(first.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags["genkit.resumed_at_epoch"] == "2"
    assert run.data.tags["genkit.changed_on_resume"] == "train.epochs: 3 -> 4"
    assert run.data.params["train.epochs"] == "3"  # MLflow keeps a param's first value
    # MLflow deletes no metric: epoch 3 has the killed run's value, then the resumed run's
    steps = [s for s, _ in _history(client, first.run_id, "train_loss")]
    values = [v for _, v in _history(client, first.run_id, "train_loss")]
    assert steps == [4, 8, 12, 12, 16] and values[:2] + values[3:] == [9.5, 7.25, 6.0, 5.5]
    assert run.data.metrics["train_loss"] == 5.5


def test_two_mlflow_loggers_of_a_run_each_go_on_in_their_own_run(tmp_path, store):
    def pair() -> list[MLflowLogger]:
        return [_logger(tmp_path / "run", store, experiment=name) for name in ("tests", "tiny")]

    first = pair()
    for logger in first:
        logger.start(SPEC, None)
        logger.log(ROWS[0], 4)
        logger.close("interrupted")
    again = pair()
    for logger in again:
        logger.start(SPEC, 1)
        logger.log(ROWS[1], 8)
        logger.close("finished")
    assert [a.run_id for a in again] == [f.run_id for f in first]
    client = MlflowClient(store)
    for logger in again:
        assert _history(client, logger.run_id, "epoch") == [(4, 1.0), (8, 2.0)]


@pytest.mark.parametrize(
    ("status", "log_artifacts", "expected"),
    [
        pytest.param("failed", True, "FAILED", id="failed"),
        pytest.param("finished", False, "FINISHED", id="log_artifacts-false"),
    ],
)
def test_artifacts_only_when_finished_and_asked(tmp_path, store, status, log_artifacts, expected):
    logger = _logger(tmp_path / "run", store, experiment="tests", log_artifacts=log_artifacts)
    logger.start(SPEC, None)
    logger.log(ROWS[0], 4)
    _files(tmp_path / "run")
    logger.close(status)
    client = MlflowClient(store)
    assert client.get_run(logger.run_id).info.status == expected
    assert client.list_artifacts(logger.run_id) == []


def test_a_notebooks_active_run_is_left_alone(tmp_path, store, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    with mlflow.start_run(experiment_id=MlflowClient(store).get_experiment_by_name("tests")
                          .experiment_id) as outer:  # fmt: skip
        logger = _logger(tmp_path / "run", store, experiment="tests")
        logger.start(SPEC, None)
        logger.log(ROWS[0], 4)
        logger.close("finished")
        assert mlflow.active_run().info.run_id == outer.info.run_id
    assert logger.run_id != outer.info.run_id
    assert "mlflow.parentRunId" not in MlflowClient(store).get_run(logger.run_id).data.tags


def test_without_mlflow_the_spec_error_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    spec = load_spec({**SPEC, "logging": [{"type": "mlflow"}]})
    with pytest.raises(SpecError, match=r"logging\.type: .*pip install 'genkit-lvm\[mlflow\]'"):
        build_component("logging", spec.logging[0], run_dir=tmp_path)


def test_a_tag_of_mlflows_own_is_refused_with_the_spec():
    spec = {**SPEC, "logging": [{"type": "mlflow", "tags": {"mlflow.runName": "mine"}}]}
    with pytest.raises(SpecError, match=r"logging\.0\.tags.*'mlflow\.runName': tags named mlf"):
        load_spec(spec)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("uri", "why"),
    [
        pytest.param("sqlite:///{tmp}/file/mlflow.db", "FileExistsError", id="parent-is-a-file"),
        pytest.param("foo://bar", "unsupported URI 'foo://bar'", id="unknown-scheme"),
        pytest.param("http://127.0.0.1:{port}", "no MLflow server answers", id="no-server"),
        pytest.param("{tmp}/mlruns", "filesystem tracking backend", id="file-store"),
        pytest.param("mysql://root:hunter2@127.0.0.1:{port}/db", "", id="password-masked"),
    ],
)
def test_a_tracking_uri_that_cannot_be_used_is_one_line_at_the_start(tmp_path, uri, why):
    (tmp_path / "file").write_text("")
    uri = uri.format(tmp=tmp_path, port=_closed_port())
    logger = _logger(tmp_path / "run", uri)
    with pytest.raises(SpecError) as caught:
        logger.start(SPEC, None)
    message = str(caught.value)
    shown = uri.replace(":hunter2@", ":***@")
    start = f"logging.tracking_uri: the mlflow logger cannot use tracking URI '{shown}': "
    assert message.startswith(start) and "hunter2" not in message
    assert why in message and "\n" not in message and len(message) < 700
    logger.close("failed")  # the trainer closes every logger: nothing to end


def test_a_tracker_failing_mid_run_warns_once_and_training_goes_on(tmp_path, store, monkeypatch):
    logger = _logger(tmp_path / "run", store, experiment="tests")
    logger.start(SPEC, None)
    logger.log(ROWS[0], 4)

    def down(*args: Any, **kwargs: Any) -> None:
        raise mlflow.exceptions.MlflowException("API request failed: connection refused")

    monkeypatch.setattr(logger.client, "log_batch", down)
    with pytest.warns(GenkitWarning, match=r"cannot log epoch 2 and later .*nothing more goes to"):
        logger.log(ROWS[1], 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        logger.log(ROWS[2], 12)  # no second warning
    _files(tmp_path / "run")
    logger.close("finished")
    run = MlflowClient(store).get_run(logger.run_id)
    assert run.info.status == "FINISHED"
    assert "connection refused" in run.data.tags["genkit.tracking_failed"]
    assert run.data.metrics["epoch"] == 1


def test_a_resume_whose_mlflow_run_is_elsewhere_names_the_file(tmp_path, store):
    (tmp_path / "run").mkdir()
    entry = {"logger": f"{store} (default)", "tracking_uri": store, "run_id": "0123456789abcdef"}
    (tmp_path / "run" / RUN_FILE).write_text(json.dumps({"runs": [entry]}))
    with pytest.raises(RunError, match=r"mlflow_run.json: MLflow run 0123456789abcdef is not in"):
        _logger(tmp_path / "run", store).start(SPEC, 2)
    (tmp_path / "run" / RUN_FILE).write_text("[1, 2")
    with pytest.raises(RunError, match=r"mlflow_run.json: not the mlflow logger's record of"):
        _logger(tmp_path / "run", store).start(SPEC, 2)


def _run_id(run: Path) -> str:
    (entry,) = json.loads((run / RUN_FILE).read_text())["runs"]
    return str(entry["run_id"])


def _record(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def trained(store: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two epochs of the tiny VAE with the csv and mlflow loggers."""
    run = tmp_path_factory.mktemp("trained") / "run"
    logging = [{"type": "csv"}, {"type": "mlflow", "tracking_uri": store, "experiment": "tests"}]
    spec = tiny_spec(train={**TINY_SPEC["train"], "epochs": 2}, logging=logging)
    Trainer(spec, run, stream=None).fit()
    return run


def test_a_trained_run_reads_back_as_its_record_step_by_step(trained, store):
    client = MlflowClient(store)
    run_id = _run_id(trained)
    rows = _record(trained)
    assert len(rows) == 2
    for key in {k for row in rows for k in row} - {"step"}:
        expected = [(row["step"], pytest.approx(row[key])) for row in rows if key in row]
        assert _history(client, run_id, key) == expected, key
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == "run"
    assert run.data.params["model"] == "vae" and run.data.params["train.epochs"] == "2"
    assert run.data.params["logging.1.tracking_uri"] == store
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert artifacts == {
        "spec.yaml", "model.safetensors", "samples.png", "reconstructions.png", "metrics.csv",
        "history.jsonl",
    }  # fmt: skip


def test_resuming_a_trained_run_goes_on_in_its_mlflow_run(trained, store, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    Trainer(None, run, resume=True, overrides=["train.epochs=3"], stream=None).fit()
    client = MlflowClient(store)
    run_id = _run_id(run)
    assert run_id == _run_id(trained)
    got = _history(client, run_id, "test_loss")
    assert got == [(row["step"], pytest.approx(row["test_loss"])) for row in _record(run)]
    tags = client.get_run(run_id).data.tags
    assert tags["genkit.resumed_at_epoch"] == "2"
    assert tags["genkit.changed_on_resume"] == "train.epochs: 2 -> 3"


def test_a_logger_added_on_resume_starts_a_run_with_the_earlier_epochs(trained, store, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    (run / RUN_FILE).unlink()
    Trainer(None, run, resume=True, overrides=["train.epochs=3"], stream=None).fit()
    run_id = _run_id(run)
    assert run_id != _run_id(trained)
    got = _history(MlflowClient(store), run_id, "train_loss")
    assert got == [(row["step"], pytest.approx(row["train_loss"])) for row in _record(run)]


def test_an_unusable_tracking_uri_stops_genkit_train_in_one_line(tmp_path, write_spec, capsys):
    logging = [{"type": "mlflow", "tracking_uri": f"http://127.0.0.1:{_closed_port()}"}]
    spec = write_spec(tiny_spec(logging=logging))
    assert main(["train", str(spec), "-o", str(tmp_path / "run"), "-q"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "logging.tracking_uri: the mlflow logger cannot use tracking URI 'http://127.0" in err
    assert "no MLflow server answers" in err
