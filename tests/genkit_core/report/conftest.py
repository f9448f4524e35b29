"""The tiny trained runs (one per model kind) opened once for every report test."""

from __future__ import annotations

from pathlib import Path

import pytest

from genkit_core.report import RunView, open_run


@pytest.fixture(scope="session")
def views(trained_runs: dict[str, Path]) -> dict[str, RunView]:
    """``ae``, ``vae`` and ``cvae`` runs (latent_dim 3, 64 test digits) with their examples."""
    return {kind: open_run(run_dir) for kind, run_dir in trained_runs.items()}
