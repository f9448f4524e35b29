"""A seeded search tunes the learning rate; two sweeps on two "machines" share a PostgreSQL
study.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from pathlib import Path

import pytest
from optuna.trial import TrialState

from genkit_core.cli import main
from genkit_core.run_metrics import measure_run
from genkit_core.training import Trainer

from .conftest import BASE, genkit_sweep, run_dirs, study_trials

pytestmark = pytest.mark.slow

LOW, HIGH = 1e-5, 3e-2


def test_a_seeded_search_finds_a_better_learning_rate_than_the_worst_in_its_space(
    sweep_file, tmp_path: Path, capsys
):
    base = {**BASE, "train": {**BASE["train"], "epochs": 3}}
    search = {"train.lr": {"log_uniform": [LOW, HIGH]}, "trials": 4, "metric": "negative_elbo",
              "seed": 0}  # fmt: skip
    path = sweep_file(name="lr", base=base, search=search)
    out = tmp_path / "out"
    assert main(["sweep", str(path), "-o", str(out), "--quiet"]) == 0
    assert "best: lr=" in capsys.readouterr().out

    trials = study_trials(out, "lr")
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    lrs = [t.params["train.lr"] for t in trials]
    assert len(set(lrs)) == 4 and all(LOW <= lr <= HIGH for lr in lrs)
    for t in trials:  # each trial's name, run and spec carry its drawn learning rate
        assert t.user_attrs["run"] == f"lr={t.params['train.lr']:.3g},trial={t.number}"
        assert (
            f"lr: {t.params['train.lr']}" in (out / t.user_attrs["run"] / "spec.yaml").read_text()
        )
    best = min(trials, key=lambda t: t.value)

    worst = 0.0  # the worse of the two ends of the space, trained the same way
    for lr in (LOW, HIGH):
        run = tmp_path / f"lr{lr}"
        Trainer(base, run, overrides=[f"train.lr={lr}"], stream=None).fit()
        worst = max(worst, measure_run(run, iw_samples=5)["negative_elbo"])
    assert best.value < worst
    assert best.value == measure_run(out / best.user_attrs["run"], iw_samples=5)["negative_elbo"]


POSTGRES = os.environ.get("GENKIT_TEST_POSTGRES")


@pytest.fixture
def postgres_database():
    """A fresh database on the server of GENKIT_TEST_POSTGRES, dropped afterwards."""
    if POSTGRES is None:
        pytest.skip(
            "no PostgreSQL server to test against: set GENKIT_TEST_POSTGRES to "
            "postgresql://USER:PASSWORD@HOST/postgres for a role that may create databases "
            "(.ci/run installs and starts one with apt)"
        )
    psycopg = pytest.importorskip("psycopg", reason="pip install 'genkit-lvm[postgres]'")
    name = f"genkit_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
        yield POSTGRES.rsplit("/", 1)[0] + f"/{name}"
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_two_sweeps_started_at_once_on_one_postgres_study_run_each_trial_once(
    sweep_file, tmp_path: Path, postgres_database: str
):
    path = sweep_file(name="shared", grid={"divergence.beta": [1.0, 4.0], "train.seed": [0, 1]})
    out = tmp_path / "out"  # one directory both "machines" see, as on a network file system
    sweeps = [genkit_sweep(str(path), "-o", str(out), "--storage", postgres_database)
              for _ in range(2)]  # fmt: skip
    for sweep in sweeps:
        _, stderr = sweep.communicate(timeout=600)
        assert sweep.returncode == 0, stderr[-3000:]
    assert not (out / "study.journal").exists()
    trials = study_trials(out, "shared", storage=postgres_database)
    assert len(trials) == 4 and all(t.state == TrialState.COMPLETE for t in trials)
    assert sorted(t.user_attrs["run"] for t in trials) == [d.name for d in run_dirs(out)]


def test_a_sweep_of_runs_with_no_logger_searches_on_test_loss_and_compares(
    sweep_file, tmp_path: Path, capsys
):
    """The sweep's metric and compare read the run's own record, not a logger's file."""
    base = {**BASE, "logging": [], "callbacks": []}
    search = {"train.lr": {"log_uniform": [1e-4, 1e-2]}, "trials": 2, "metric": "test_loss",
              "seed": 0}  # fmt: skip
    out = tmp_path / "out"
    assert main(["sweep", str(sweep_file(name="quiet", base=base, search=search)), "-o",
                 str(out), "--quiet"]) == 0  # fmt: skip
    trials = study_trials(out, "quiet")
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2
    for t in trials:
        run = out / t.user_attrs["run"]
        assert not (run / "metrics.csv").exists() and (run / "history.jsonl").is_file()
        assert t.value == measure_run(run, iw_samples=5)["test_loss"]
    capsys.readouterr()
    assert main(["compare", str(out), "--json", "-", "--no-page", "--iw-samples", "5"]) == 0
    table = json.loads(capsys.readouterr().out)["configurations"]
    assert len(table) == 2 and all(
        math.isfinite(row["metrics"]["test_loss"]["mean"]) for row in table
    )
