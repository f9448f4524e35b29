"""A VQ-VAE through the trainer: Ctrl-C and resume equal an uninterrupted run, the codebook's
moving averages and the fitted PixelCNN prior included; the report draws its grid latents."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
import torch

from genkit_core.cli import main
from genkit_core.data import as_float
from genkit_core.files import read_tensors
from genkit_core.training import Trainer, TrainingInterrupted
from genkit_core.training.step import TrainStep

SPEC: dict[str, Any] = {
    "model": "ae",
    "latent_dim": 4,
    "data": {"type": "digits", "max_train": 192, "max_test": 64, "binarize": "dynamic"},
    "encoder": {"type": "conv", "channels": [8, 8], "hidden": None, "feature_map": True},
    "posterior": {"type": "vq", "codes": 16, "restart_below": 0.5},
    "decoder": {"type": "conv", "channels": [8, 8], "hidden": None},
    "likelihood": {"type": "bernoulli"},
    "prior": {"type": "code_pixelcnn", "channels": 8, "layers": 2, "epochs": 2},
    "train": {"epochs": 3, "batch_size": 32, "seed": 0, "device": "cpu", "progress": False},
}  # 6 steps an epoch
BUFFERS = ("posterior.codebook", "posterior.cluster_size", "posterior.embed_sum")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("reference") / "run"
    Trainer(SPEC, run, stream=None).fit()
    return run


def test_ctrl_c_and_resume_equal_an_uninterrupted_run(tmp_path, monkeypatch, uninterrupted):
    original = TrainStep.__call__

    def interrupt_at_step_8(self, *args, **kwargs):
        original(self, *args, **kwargs)
        if int(self.step_t) == 8:  # mid-epoch 2
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(TrainStep, "__call__", interrupt_at_step_8)
    run = tmp_path / "run"
    with pytest.raises(TrainingInterrupted, match="interrupted at step 8"):
        Trainer(SPEC, run, stream=None).fit()
    saved = read_tensors(run / "checkpoint.safetensors")[0]
    assert all(f"model/{b}" in saved for b in BUFFERS)  # the moving averages are checkpointed
    monkeypatch.undo()
    assert main(["train", "--resume", str(run), "-q"]) == 0
    got, want = (read_tensors(r / "model.safetensors")[0] for r in (run, uninterrupted))
    assert got.keys() == want.keys()
    assert all(torch.equal(got[k], want[k]) for k in want), [
        k for k in want if not torch.equal(got[k], want[k])
    ]
    assert any(k.startswith("prior.net.") for k in want)  # the fitted prior, too
    assert not torch.all(want["posterior.cluster_size"] == 0)  # the averages moved


def test_a_vq_vae_samples_and_reports(uninterrupted, tmp_path):
    out = tmp_path / "samples.png"
    assert main(["sample", str(uninterrupted), "-n", "8", "-o", str(out)]) == 0
    assert out.is_file()
    assert main(["report", str(uninterrupted), "-o", str(tmp_path / "report.html")]) == 0
    page = (tmp_path / "report.html").read_text()
    assert "Latent traversals" in page and "Interpolations" in page


def test_the_ex_post_density_is_fitted_to_the_binarised_draw_it_trained_on(tmp_path):
    spec = {**SPEC, "posterior": {"type": "delta"}, "prior": {"type": "code_gaussian"},
            "encoder": {"type": "mlp", "hidden": [16]}, "decoder": {"type": "mlp", "hidden": [16]},
            "train": {**SPEC["train"], "epochs": 1}}  # fmt: skip
    trainer = Trainer(spec, tmp_path / "run", stream=None)
    trainer.fit()
    model, x = trainer.model.eval(), as_float(trainer.parts.train.x)
    assert set(torch.unique(x).tolist()) <= {0.0, 1.0}  # the draw, not the grey values
    codes = model.encode(x)
    assert torch.allclose(model.prior.loc, codes.double().mean(0).float(), atol=1e-5)
