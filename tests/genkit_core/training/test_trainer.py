"""The one trainer: run directories, metrics, reproducibility, load_run, schedules."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from genkit_core import load_spec
from genkit_core.files import read_tensors
from genkit_core.run import load_run
from genkit_core.spec import ScheduleSpec, Stage


@pytest.mark.parametrize("kind", ["ae", "vae", "cvae"])
def test_a_run_directory_holds_spec_weights_checkpoint_metrics_and_pictures(trained_runs, kind):
    run = trained_runs[kind]
    expected = {
        "spec.yaml",
        "model.safetensors",
        "checkpoint.safetensors",
        "metrics.csv",
        "reconstructions.png",
    }
    expected |= {"samples.png"} if kind != "ae" else set()
    assert expected <= {p.name for p in run.iterdir()}
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert [r["step"] for r in rows] == ["6", "12"]  # 192 examples / batch 32
    terms = ["loss", "reconstruction"] + (["divergence"] if kind != "ae" else [])
    for split in ("train", "test"):
        for term in terms:
            assert float(rows[-1][f"{split}_{term}"]) > 0
    assert not any(p.suffix == ".pickle" or p.suffix == ".pt" for p in run.iterdir())


def test_the_saved_spec_is_complete_and_reloads_to_the_same_spec(trained_runs):
    text = (trained_runs["vae"] / "spec.yaml").read_text()
    for default in (
        "prior:",
        "standard_normal",
        "divergence:",
        "gaussian_kl",
        "optimizer:",
        "logging:",
    ):
        assert default in text
    spec = load_spec(trained_runs["vae"] / "spec.yaml")
    assert load_spec(spec) == spec


def test_training_lowers_the_test_loss(trained_runs):
    rows = list(csv.DictReader((trained_runs["vae"] / "metrics.csv").open()))
    assert float(rows[-1]["test_loss"]) < float(rows[0]["test_loss"])


def test_the_same_seed_gives_the_same_weights(tmp_path: Path, trained_runs, train_tiny):
    train_tiny(tmp_path / "again", "vae")
    first, _ = read_tensors(trained_runs["vae"] / "model.safetensors")
    second, _ = read_tensors(tmp_path / "again" / "model.safetensors")
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_another_seed_gives_other_weights(tmp_path: Path, trained_runs, train_tiny):
    train_tiny(tmp_path / "seed1", "vae", ("train.seed=1",))
    first, _ = read_tensors(trained_runs["vae"] / "model.safetensors")
    other, _ = read_tensors(tmp_path / "seed1" / "model.safetensors")
    key = "posterior.head.weight"
    assert not torch.equal(first[key], other[key])


def test_load_run_gives_back_exactly_the_trained_model(tmp_path: Path, train_tiny):
    trainer = train_tiny(tmp_path / "run", "cvae")
    trained = trainer.model.eval()
    loaded = load_run(tmp_path / "run")
    x, y = torch.rand(5, 1, 8, 8), torch.tensor([0, 1, 2, 3, 4])
    eps = torch.randn(5, 3)
    with torch.no_grad():
        assert torch.equal(loaded.encode(x, y), trained.encode(x, y))
        assert torch.equal(loaded.reconstruct(x, y), trained.reconstruct(x, y))
        assert torch.equal(loaded(x, y, eps).loss, trained(x, y, eps).loss)
    assert loaded.spec == trainer.spec
    assert not loaded.training


def test_load_run_needs_no_data(tmp_path: Path, monkeypatch, train_tiny):
    train_tiny(tmp_path / "run", "vae")
    from genkit_plugins.data.digits import Digits

    def unavailable(self):
        raise AssertionError("load_run read the data")

    monkeypatch.setattr(Digits, "load", unavailable)
    monkeypatch.setattr(Digits, "describe", unavailable)
    assert load_run(tmp_path / "run").data_info.shape == (1, 8, 8)


def test_a_cvae_samples_one_row_per_class(trained_runs):
    from PIL import Image

    width, height = Image.open(trained_runs["cvae"] / "samples.png").size
    rows = round(height / (width / 8))  # 8 samples per row, square tiles
    assert rows == 10


@pytest.mark.parametrize(
    ("schedule", "epoch", "factor"),
    [
        pytest.param({"type": "constant"}, 5, 1.0, id="constant"),
        pytest.param({"type": "step", "every": 2, "gamma": 0.5}, 4.5, 0.25, id="step"),
        pytest.param({"type": "exponential", "gamma": 0.9}, 2, 0.81, id="exponential"),
        pytest.param({"type": "cosine", "min_factor": 0.1}, 5, 0.55, id="cosine-half"),
        pytest.param(
            {
                "type": "stages",
                "stages": [{"length": 1, "lr_factor": 1}, {"length": 3, "lr_factor": 0.5}],
            },
            2.4,
            1.0,
            id="stages-first",
        ),
        pytest.param(
            {
                "type": "stages",
                "stages": [{"length": 1, "lr_factor": 1}, {"length": 3, "lr_factor": 0.5}],
            },
            2.6,
            0.5,
            id="stages-second",
        ),
    ],
)
def test_learning_rate_schedules(schedule, epoch, factor):
    assert ScheduleSpec(**schedule).factor(epoch, epochs=10) == pytest.approx(factor)


def test_stage_lengths_scale_to_the_number_of_epochs():
    burda = ScheduleSpec(
        type="stages", stages=[Stage(length=3**i, lr_factor=10 ** (-i / 7)) for i in range(8)]
    )
    assert burda.factor(0.5, epochs=3280) == 1.0
    assert burda.factor(3279.5, epochs=3280) == pytest.approx(10 ** (-1))
    assert burda.factor(99.9, epochs=100) == pytest.approx(10 ** (-1))  # compressed proportionally
    assert burda.factor(0.01, epochs=100) == 1.0


def test_a_schedule_changes_the_optimizers_learning_rate(tmp_path: Path, train_tiny):
    trainer = train_tiny(
        tmp_path / "run", "vae", ("train.schedule={type: step, every: 1, gamma: 0.5}",)
    )
    assert trainer.parts.optimizers["model"].param_groups[0]["lr"] == pytest.approx(1e-3 * 0.5)
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    assert float(rows[-1]["lr"]) == pytest.approx(1e-3 * 0.25)  # the rate the next epoch would use
