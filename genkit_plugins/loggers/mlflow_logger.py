"""Metrics, the resolved spec and the run's files in MLflow (``mlflow ui`` to browse them).

Each run directory is one MLflow run: the spec flattened into params (``encoder.hidden``,
``train.lr``), each epoch's numbers as metrics at its optimisation step, and, when training
finishes, ``spec.yaml``, the weights and the pictures as artifacts. The MLflow run's id is kept
in ``RUN_DIR/mlflow_run.json``, so a resumed run goes on logging into the same MLflow run.

Everything goes through one :class:`mlflow.MlflowClient` with an explicit run id: the fluent
API's active run (a notebook's own ``mlflow.start_run()``) is neither used nor changed, and two
genkit runs in one process share nothing.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import Field, field_validator

import genkit_core
from genkit_core import Logger, Params, RunError, SpecError
from genkit_core.errors import GenkitError, GenkitWarning, shown
from genkit_core.files import atomic_write, read_small_file
from genkit_core.interfaces.logger import RunStatus
from genkit_core.record import has_history, read_history

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = ["ARTIFACTS", "RUN_FILE", "MLflowLogger", "MLflowParams", "flat_params", "redacted"]

RUN_FILE = "mlflow_run.json"
"""The logger's own file in the run directory: the MLflow run that a resumed run continues, one
for each mlflow logger of the spec (told apart by their ``tracking_uri`` and ``experiment``)."""

ARTIFACTS = (
    "spec.yaml", "model.safetensors", "samples.png", "reconstructions.png", "metrics.csv",
    "history.jsonl",
)  # fmt: skip
"""The run directory's files uploaded when training finishes (those that exist)."""

_STATUS = {"finished": "FINISHED", "interrupted": "KILLED", "failed": "FAILED"}
_MAX_KEY, _MAX_PARAM, _MAX_TAG = 250, 6000, 8000  # MLflow's limits (mlflow.utils.validation)
_BATCH = 100  # params per log_batch call, MLflow's limit
_KEY_PATTERN = r"^[\w.\- /]+$"


class MLflowParams(Params):
    """Where the MLflow run goes and what it carries."""

    tracking_uri: Annotated[str, Field(min_length=1, max_length=2000)] | None = Field(
        None,
        description="The tracking store or server (sqlite:///mlflow.db, http://host:5000); "
        "default: MLflow's own (MLFLOW_TRACKING_URI, else sqlite:///mlflow.db in the working "
        "directory).",
    )
    experiment: Annotated[str, Field(min_length=1, max_length=500)] | None = Field(
        None, description="The MLflow experiment; default: the spec's name, else 'genkit'."
    )
    run_name: Annotated[str, Field(min_length=1, max_length=250)] | None = Field(
        None, description="The MLflow run's name; default: the run directory's name."
    )
    tags: dict[
        Annotated[str, Field(max_length=_MAX_KEY, pattern=_KEY_PATTERN)],
        Annotated[str, Field(max_length=_MAX_TAG)],
    ] = Field(default_factory=dict, description="Tags set on the MLflow run.")

    @field_validator("tags")
    @classmethod
    def _not_mlflows(cls, tags: dict[str, str]) -> dict[str, str]:
        for key in tags:
            if key.startswith("mlflow."):
                raise ValueError(
                    f"tag {key!r}: tags named mlflow.* are MLflow's own (run_name names the run)"
                )
        return tags

    log_artifacts: bool = Field(
        True, description="Upload spec.yaml, the weights, pictures and metrics once finished."
    )


def flat_params(spec: dict[str, Any]) -> dict[str, str]:
    """The spec as MLflow params: nested keys joined by ``.``, lists of sections by index
    (``logging.0.type``), other values as JSON (``encoder.hidden`` = ``[256, 128]``).

    Keys keep only the characters MLflow accepts everywhere (others become ``_``) and values
    longer than MLflow's 6000 characters end in ``...`` (``spec.yaml`` has them whole).
    """
    flat: dict[str, str] = {}

    def visit(prefix: str, value: Any) -> None:
        if isinstance(value, dict) and value:
            for k, v in value.items():
                visit(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(value, list) and any(isinstance(v, dict) for v in value):
            for i, v in enumerate(value):
                visit(f"{prefix}.{i}", v)
        else:
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            text = redacted(text)
            key = _key(prefix)
            while key in flat:  # two keys that differed only in refused characters
                key += "_"
            flat[key] = text if len(text) <= _MAX_PARAM else text[: _MAX_PARAM - 3] + "..."

    visit("", spec)
    return flat


def redacted(text: str) -> str:
    """``text`` with the password of any URI in it masked (``postgresql://u:***@db/mlflow``),
    for params that everyone who can read the experiment sees, and for messages.
    """
    return _PASSWORD.sub(r"\1***@", text)


_PASSWORD = re.compile(r"(://[^/:@\s]*:)[^/@\s]+@")


def _key(name: str) -> str:
    """``name`` as an MLflow key: no ``:`` or ``/`` (Windows, paths), no leading ``.``."""
    key = re.sub(r"[^\w.\- ]", "_", name).lstrip(".")[:_MAX_KEY]
    return key or "_"


class MLflowLogger(Logger):
    """Logs to one MLflow run: the resolved spec as params, each row's numbers as metrics at
    its step, and, once training finishes, ``spec.yaml``, the weights and pictures as artifacts.
    A resumed run goes on in the same MLflow run (``RUN_DIR/mlflow_run.json`` names it).

    A tracker that fails during training (a server gone, a full disk under the store) does not
    stop training: the logger warns once and sends nothing more, and the run directory keeps
    every row. A tracker that cannot be used at the start is a :class:`SpecError`.
    """

    Params = MLflowParams

    def __init__(self, params: MLflowParams, run_dir: Path):
        super().__init__(params, run_dir)
        try:
            import mlflow  # noqa: F401 - slow to import (about 1 s), so only when it is used
        except ImportError:
            raise SpecError(
                "the mlflow logger needs the mlflow package: pip install 'genkit-lvm[mlflow]' "
                "(or pip install mlflow), or remove it from logging",
                field="type",
            ) from None
        self.client: MlflowClient | None = None
        self.run_id: str | None = None
        self._lost: str | None = None  # why the tracker stopped answering, once it has

    def start(self, spec: dict[str, Any], resumed_epoch: int | None) -> None:
        import mlflow
        from mlflow import MlflowClient

        p: MLflowParams = self.params  # type: ignore[assignment]
        saved = self._saved() if resumed_epoch is not None else None
        uri = p.tracking_uri or (saved or {}).get("tracking_uri") or mlflow.get_tracking_uri()
        try:
            if uri.startswith(("http://", "https://")):
                _check_reachable(uri)
            self.client = MlflowClient(uri)
            uri = self.client.tracking_uri
            if saved is not None:
                self._continue(saved["run_id"], spec, resumed_epoch)
            else:
                self._create(spec, resumed_epoch)
        except GenkitError:
            raise
        except Exception as exc:  # the tracker's errors come from many libraries
            self._end("FAILED", quiet=True)
            self.run_id = None  # ended: the trainer's close has nothing left to do
            raise SpecError(
                f"the mlflow logger cannot use tracking URI {shown(redacted(uri))}: "
                f"{_reason(exc)}; start or fix that store, set logging's tracking_uri to one "
                "that works (e.g. sqlite:///mlflow.db), or remove the mlflow logger",
                field="logging.tracking_uri",
            ) from None

    def log(self, metrics: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        if self.client is None or self.run_id is None or self._lost is not None:
            return
        now = int(time.time() * 1000)
        rows = [
            Metric(_key(k), float(v), now, step)
            for k, v in metrics.items()
            if k != "step" and _is_number(v)
        ]
        try:
            self.client.log_batch(self.run_id, metrics=rows, synchronous=True)
        except Exception as exc:
            self._lose(f"epoch {metrics.get('epoch', '?')} and later", exc)

    def close(self, status: RunStatus = "finished") -> None:
        if self.client is None or self.run_id is None:
            return
        p: MLflowParams = self.params  # type: ignore[assignment]
        if p.log_artifacts and status == "finished" and self._lost is None:
            try:
                for name in ARTIFACTS:
                    if (self.run_dir / name).is_file():
                        self.client.log_artifact(self.run_id, str(self.run_dir / name))
            except Exception as exc:
                self._lose("the artifacts", exc)
        self._end(_STATUS[status])

    def _create(self, spec: dict[str, Any], resumed_epoch: int | None) -> None:
        """A new MLflow run with the spec as params; its id goes into ``mlflow_run.json``."""
        assert self.client is not None  # start made it
        p: MLflowParams = self.params  # type: ignore[assignment]
        name = p.experiment or spec.get("name") or "genkit"
        experiment = self.client.get_experiment_by_name(name)
        if experiment is not None and experiment.lifecycle_stage == "deleted":
            raise SpecError(
                f"MLflow experiment {shown(name)} is deleted: restore it (mlflow experiments "
                "restore) or name another in logging's experiment",
                field="logging.experiment",
            )
        experiment_id = (
            experiment.experiment_id if experiment else self.client.create_experiment(name)
        )
        tags = {
            "genkit.version": genkit_core.__version__,
            "genkit.run_dir": str(self.run_dir.resolve()),
            "genkit.model": str(spec.get("model", "")),
            **p.tags,
        }
        if resumed_epoch is not None:  # resumed, but this logger was not in the first run
            tags["genkit.resumed_at_epoch"] = str(resumed_epoch)
        run = self.client.create_run(
            experiment_id, tags=tags, run_name=p.run_name or self.run_dir.resolve().name
        )
        self.run_id = run.info.run_id
        self._log_params(flat_params(spec))
        self._remember(self.run_id, self.client.tracking_uri)
        if resumed_epoch and has_history(self.run_dir):  # the epochs before this logger
            for row in _rows(read_history(self.run_dir)):
                self.log(row, int(row["step"]))

    def _continue(self, run_id: str, spec: dict[str, Any], resumed_epoch: int | None) -> None:
        """The same MLflow run again, RUNNING; params that changed keep their first value."""
        assert self.client is not None  # start made it
        from mlflow.exceptions import MlflowException

        try:
            run = self.client.get_run(run_id)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
            raise RunError(
                f"{self.run_dir / RUN_FILE}: MLflow run {run_id} is not in tracking URI "
                f"{redacted(self.client.tracking_uri)}: set logging's tracking_uri to the "
                "store that has it, or delete that file to log the resumed run as a new MLflow "
                "run"
            ) from None
        self.run_id = run_id
        self.client.update_run(run_id, status="RUNNING")
        resumed = run.data.tags.get("genkit.resumed_at_epoch")
        at = f"{resumed},{resumed_epoch}" if resumed else str(resumed_epoch)
        self.client.set_tag(run_id, "genkit.resumed_at_epoch", at[-_MAX_TAG:])
        logged = run.data.params
        flat = flat_params(spec)
        self._log_params({k: v for k, v in flat.items() if k not in logged})
        changed = [f"{k}: {logged[k]} -> {v}" for k, v in flat.items() if logged.get(k, v) != v]
        if changed:  # MLflow refuses to change a param; spec.yaml has the new values
            self.client.set_tag(run_id, "genkit.changed_on_resume", "; ".join(changed)[:_MAX_TAG])

    def _log_params(self, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        assert self.client is not None and self.run_id is not None
        items = [Param(k, v) for k, v in params.items()]
        for i in range(0, len(items), _BATCH):
            self.client.log_batch(self.run_id, params=items[i : i + _BATCH], synchronous=True)

    def _saved(self) -> dict[str, str] | None:
        """This logger's entry in ``mlflow_run.json``: None where it has not logged the run.

        Raises:
            RunError: the file is not the logger's record.
        """
        path = self.run_dir / RUN_FILE
        if not path.exists():
            return None
        entries = _entries(read_small_file(path))
        if entries is None:
            raise RunError(
                f"{path}: not the mlflow logger's record of its MLflow runs; delete it to log "
                "the resumed run as a new MLflow run"
            )
        return next((e for e in entries if e["logger"] == self._identity()), None)

    def _remember(self, run_id: str, tracking_uri: str) -> None:
        """Put this logger's MLflow run into ``mlflow_run.json``, beside other mlflow loggers'."""
        path = self.run_dir / RUN_FILE
        old = _entries(read_small_file(path)) if path.is_file() else None
        entries = [e for e in old or [] if e["logger"] != self._identity()]
        entries.append({"logger": self._identity(), "tracking_uri": tracking_uri, "run_id": run_id})
        atomic_write(path, json.dumps({"runs": entries}, indent=1).encode())

    def _identity(self) -> str:
        """Which of a spec's mlflow loggers this is: where it logs, as the spec says."""
        p: MLflowParams = self.params  # type: ignore[assignment]
        return f"{p.tracking_uri or '(default)'} {p.experiment or '(default)'}"

    def _end(self, status: str, quiet: bool = False) -> None:
        """End the MLflow run with ``status`` (and say in a tag if rows went missing)."""
        if self.client is None or self.run_id is None:
            return
        try:
            if self._lost is not None:
                self.client.set_tag(self.run_id, "genkit.tracking_failed", self._lost[:_MAX_TAG])
            self.client.set_terminated(self.run_id, status)
        except Exception as exc:
            if not quiet:
                self._lose("the run's status", exc)

    def _lose(self, what: str, exc: Exception) -> None:
        """Warn, once, that the tracker failed: training goes on, the run directory has it all."""
        if self._lost is None:
            self._lost = _reason(exc)
            uri = redacted(self.client.tracking_uri if self.client else "?")
            warnings.warn(
                f"mlflow: cannot log {what} to MLflow run {self.run_id} at {uri} "
                f"({self._lost}); nothing more goes to MLflow for this run, and "
                f"{self.run_dir} keeps every epoch's numbers and files",
                GenkitWarning,
                stacklevel=3,
            )


def _entries(data: bytes) -> list[dict[str, str]] | None:
    """The entries of an ``mlflow_run.json``, or None for a file that is not one."""
    try:
        runs = json.loads(data).get("runs")
    except (ValueError, AttributeError):
        return None
    keys = ("logger", "tracking_uri", "run_id")
    if not isinstance(runs, list) or not all(
        isinstance(e, dict) and all(isinstance(e.get(k), str) for k in keys) for e in runs
    ):
        return None
    return runs


def _rows(columns: dict[str, list[float | None]]) -> list[dict[str, float]]:
    """The rows of a run's record, read as columns."""
    rows: list[dict[str, float]] = []
    for i in range(len(next(iter(columns.values()), []))):
        row = {k: value for k, v in columns.items() if (value := v[i]) is not None}
        if "step" in row:
            rows.append(row)
    return rows


def _is_number(value: object) -> bool:
    """A metric's value: an int or float (a row from a plugin may hold other things)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_reachable(uri: str) -> None:
    """Fail in seconds on a server that is not there, where MLflow would retry for minutes."""
    try:
        urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=10).close()
    except urllib.error.HTTPError:
        pass  # it answered: whether it accepts what genkit sends, MLflow will tell
    except urllib.error.URLError as exc:
        if not isinstance(exc.reason, OSError) or "SSL" in type(exc.reason).__name__:
            return  # certificates and proxies are MLflow's business (its own settings)
        raise ConnectionError(f"no MLflow server answers ({exc.reason})") from None
    except OSError as exc:  # a timeout
        raise ConnectionError(f"no MLflow server answers ({exc})") from None


def _reason(exc: Exception) -> str:
    """The first sentence of a tracker's error, with its type: MLflow's run on for lines."""
    text = str(exc).strip().split("\n")[0]
    first = re.split(r"(?<=[a-z0-9)'\"])\. ", text, maxsplit=1)[0]
    first = first if len(first) <= 300 else first[:297] + "..."
    return redacted(f"{type(exc).__name__}: {first}" if first else type(exc).__name__)
