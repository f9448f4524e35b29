"""benchmarks/mnist_samplers.py: the smoke run end to end (Pythae's rows skipped where it is not
installed). Its measures are genkit's fd and precision_recall, tested in
tests/genkit_plugins/metrics/test_sample_quality_math.py.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

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
