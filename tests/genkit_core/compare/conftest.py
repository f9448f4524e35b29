"""Runs to compare: two configurations (beta 1 and 4) over two seeds, trained once."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from genkit_core.training import Trainer

from ...conftest import TINY_RUN


@pytest.fixture(scope="session")
def seeded_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``runs/beta{1,4}-seed{0,1}``, and ``runs/unfinished``: a run stopped at 1 of 2 epochs."""
    root = tmp_path_factory.mktemp("compare") / "runs"
    for beta in (1, 4):
        for seed in (0, 1):
            overrides = [f"divergence={{type: gaussian_kl, beta: {beta}}}", f"train.seed={seed}"]
            run = root / f"beta{beta}-seed{seed}"
            Trainer(TINY_RUN, run, overrides=overrides, stream=None).fit()
    unfinished = root / "unfinished"
    Trainer(TINY_RUN, unfinished, overrides=["train.epochs=1"], stream=None).fit()
    spec = yaml.safe_load((unfinished / "spec.yaml").read_text())
    spec["train"]["epochs"] = 2  # as if it had been stopped after its first epoch
    (unfinished / "spec.yaml").write_text(yaml.safe_dump(spec))
    return root
