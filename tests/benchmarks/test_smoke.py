"""The benchmarks as smoke tests: each runs end to end on tiny random data, so none can rot.

No timing is asserted; the figures in docs/performance.md come from full runs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _run(script: str) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--smoke"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
def test_train_speed_reports_every_contender_and_their_equal_work():
    out = _run("train_speed.py")
    for contender in ("| plain |", "| plain-fused |", "| genkit |"):
        assert contender in out
    assert "4 optimiser steps per seed for every contender" in out
    assert "| seed noise (sd) | p, same loss as plain |" in out


@pytest.mark.slow
def test_wall_time_reports_quiet_and_busy():
    out = _run("wall_time.py")
    assert "| quiet |" in out and "| busy |" in out


@pytest.mark.slow
def test_threads_reports_each_count_quiet_and_busy():
    out = _run("threads.py")
    assert "| small | 0.13 | 1 | quiet |" in out and "| small | 0.13 | 1 | busy |" in out


@pytest.mark.slow
def test_the_gpu_check_runs_every_step_on_the_cpu():
    out = _run("gpu_check.py")
    assert out.count("optimiser steps per seed for every contender") == 2  # batch 128, 1024
    assert "| 2 |" in out and "the full schedule of 3280 epochs projects to" in out


@pytest.mark.slow
def test_scaling_reports_each_size():
    rows = [line.split("|") for line in _run("scaling.py").splitlines()]
    sizes_at_128 = [row[2].strip() for row in rows if len(row) > 3 and row[3].strip() == "128"]
    assert sizes_at_128 == ["256", "512"]


@pytest.mark.slow
def test_burda_reference_reports_both_bounds():
    out = _run("burda_reference.py")
    assert "test negative ELBO" in out and "IW -log p(x) (K=10)" in out


@pytest.mark.slow
def test_iw_eval_reports_each_chunk_size():
    rows = [line.split("|") for line in _run("iw_eval.py").splitlines()]
    configs = [
        (row[1].strip(), row[2].strip()) for row in rows if row[1:2] and row[1].strip().isdigit()
    ]
    policies = ["returned (glibc)", "kept (genkit)"]
    assert configs == [(size, policy) for size in ("100", "25") for policy in policies]


@pytest.mark.slow
def test_vamp_start_reports_each_prior():
    out = _run("vamp_start.py")
    arms = ("vamp", "vamp, data init", "standard normal, MC KL", "mixture of 500",
            "vamp, encoder detached in the prior")  # fmt: skip
    for arm in arms:
        assert f"| {arm} | " in out


@pytest.mark.slow
def test_mnist_sample_quality_reports_each_figure():
    out = _run("mnist_sample_quality.py")
    assert "| run | rec | prior | gaussian | gmm10 |" in out
    assert "test vs train images (the floor)" in out


@pytest.mark.slow
def test_samplers_times_every_sampler():
    out = _run("samplers.py")
    for prior in ("code_gaussian", "code_gmm", "code_maf", "code_vae", "code_diffusion"):
        assert f"| {prior} | " in out
