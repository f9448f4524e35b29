"""benchmarks/mnist_samplers.py: the smoke run end to end (Pythae's rows skipped where it is not
installed), and its precision/recall against a direct count.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.mark.slow
def test_the_smoke_run_reports_every_sampler_of_both_libraries_and_the_floor() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / "mnist_samplers.py"), "--smoke"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert (
        "| run | library | sampler | FD | precision | recall | fit (CPU s) | sampling (CPU s) |"
        in out
    )
    assert "| floor |  | test vs train images |" in out
    for run in ("ae", "vae"):
        for prior in ("standard_normal", "code_gaussian", "code_gmm"):
            assert f"| {run} | genkit | {prior} | " in out
        for sampler in ("NormalSampler", "GaussianMixtureSampler", "MAFSampler", "IAFSampler"):
            assert f"| {run} | pythae | {sampler} | " in out
    if importlib.util.find_spec("pythae") is None:
        assert "| vae | pythae | MAFSampler | not run: pythae is not installed |" in out
    else:
        assert "| ae | pythae | TwoStageVAESampler | not run: Pythae's TwoStageVAESampler" in out
        assert "Pythae's embeddings differ from them by 0 at most" in out


def _precision_recall() -> Any:  # the script's directory holds its sibling modules
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from mnist_samplers import precision_recall
    finally:
        sys.path.remove(str(BENCHMARKS))
    return precision_recall


def test_precision_and_recall_count_the_points_inside_the_other_sets_balls() -> None:
    """Reals on a line at 0, 1, ..., 9 (k = 1: each ball has radius 1); fakes at 0.5 (inside),
    30 and 31 (outside). Precision 1/3. The fakes' balls: 0.5 has radius 29.5 (its nearest
    other fake is 30), so it covers every real: recall 1. Both counted by hand.
    """
    precision_recall = _precision_recall()
    real = np.arange(10.0)[:, None]
    fake = np.array([[0.5], [30.0], [31.0]])
    assert precision_recall(real, fake, k=1) == pytest.approx((1 / 3, 1.0))
    pairs = np.array([[0.1], [0.4], [50.0], [50.5]])  # radii 0.3, 0.3, 0.5, 0.5: only 0 covered
    assert precision_recall(real, pairs, k=1) == pytest.approx((0.5, 0.1))
