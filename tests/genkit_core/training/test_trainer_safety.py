"""Diverging runs: a non-finite loss or gradient stops the run naming the step and the term, the
last good checkpoint is kept and usable, ``on_nonfinite: skip`` skips, clipping clips.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pytest
import torch

from genkit_core import NonFiniteError, build_model
from genkit_core.cli import main
from genkit_core.files import read_tensors
from genkit_core.model import LatentVariableModel, ModelOutput
from genkit_core.spec import TrainSpec
from genkit_core.training import Trainer
from genkit_core.training.optim import OptimizerGroups, parameter_groups
from genkit_core.training.step import TrainStep

BAD_STEP = 4
"""The step (0-based) at which the rigged model goes non-finite; 6 steps make an epoch."""


def _rig(monkeypatch, what: str, at: int = BAD_STEP) -> None:
    """Make the model's training forward pass go non-finite in ``what`` at step ``at``."""
    forward = LatentVariableModel.forward

    def rigged(self, x, y=None, noise=None, step=None) -> ModelOutput:
        out = forward(self, x, y, noise, step)
        if not self.training or step is None or int(step) != at:
            return out
        terms = dict(out.terms)
        if what == "gradient":  # finite value, infinite slope: 0 * d sqrt(t)/dt at t = 0 is nan
            w = self.posterior.head.weight
            loss = out.loss + 0 * torch.sqrt((w - w.detach()).sum())
            return ModelOutput({"model": loss}, terms)
        terms[what] = terms[what] * float("inf")
        return ModelOutput({"model": out.loss + terms[what].mean()}, terms)

    monkeypatch.setattr(LatentVariableModel, "forward", rigged)


def _weights(path: Path, prefix: str = "") -> dict[str, torch.Tensor]:
    tensors, _ = read_tensors(path)
    return {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}


@pytest.mark.parametrize(
    ("what", "named"),
    [
        pytest.param("reconstruction", "the reconstruction term", id="reconstruction"),
        pytest.param("divergence", "the divergence term", id="divergence"),
        pytest.param("gradient", "the gradient", id="gradient"),
    ],
)
def test_a_nonfinite_value_stops_naming_step_and_term_and_keeps_the_last_good_checkpoint(
    tmp_path: Path, monkeypatch, spec_dict, capsys, what: str, named: str
) -> None:
    _rig(monkeypatch, what)
    run = tmp_path / "run"
    spec = spec_dict(train={**spec_dict()["train"], "epochs": 2, "checkpoint_every": 3})
    trainer = Trainer(spec, run, stream=None)
    message = (
        f"training stopped: {named} became non-finite \\(nan or inf\\) at step {BAD_STEP} "
        r"\(epoch 1\)\. The last good checkpoint \(step 3\) is kept"
    )
    with pytest.raises(NonFiniteError, match=message):
        trainer.fit()
    _, meta = read_tensors(run / "checkpoint.safetensors")
    assert meta["position"]["step"] == 3
    kept = _weights(run / "model.safetensors")
    assert kept.keys() and all(bool(torch.isfinite(v).all()) for v in kept.values())
    checkpointed = _weights(run / "checkpoint.safetensors", "model/")
    assert all(torch.equal(kept[k], checkpointed[k]) for k in kept)

    monkeypatch.undo()
    capsys.readouterr()
    assert main(["eval", str(run), "--iw-samples", "5", "--device", "cpu"]) == 0
    assert "negative ELBO" in capsys.readouterr().out


def test_the_cli_reports_a_diverged_run_in_one_line(tmp_path: Path, monkeypatch, write_spec,
                                                    spec_dict, capsys) -> None:  # fmt: skip
    _rig(monkeypatch, "divergence", at=0)
    path = write_spec(spec_dict())
    assert main(["train", str(path), "-o", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the divergence term became non-finite" in err, err
    assert "at step 0" in err and "Traceback" not in err


def test_skip_mode_skips_the_bad_step_and_finishes(tmp_path: Path, monkeypatch, spec_dict) -> None:
    _rig(monkeypatch, "gradient")
    spec = spec_dict(train={**spec_dict()["train"], "epochs": 2, "on_nonfinite": "skip"})
    Trainer(spec, tmp_path / "run", stream=None).fit()
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    assert [r["skipped_steps"] for r in rows] == ["1", "1"]
    assert [r["step"] for r in rows] == ["8", "16"]  # 256 examples / 32: skipped steps count
    weights = _weights(tmp_path / "run" / "model.safetensors")
    assert all(bool(torch.isfinite(v).all()) for v in weights.values())
    assert all(math.isfinite(float(rows[-1][k])) for k in ("train_loss", "test_loss"))


@pytest.mark.parametrize("clip", [0.05, 1e6])
def test_clipping_bounds_the_update_of_plain_sgd_by_the_gradient_norm(spec_dict, clip) -> None:
    """With SGD at lr 1 the update is the gradient, so its norm is min(||g||, clip)."""
    model = build_model(spec_dict())
    x, eps = torch.rand(8, 1, 8, 8), torch.randn(8, 4)
    model(x, noise=eps).loss.backward()  # the reference: the unclipped gradient's norm
    norm = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in model.parameters()]))
    model.zero_grad()
    before = [p.detach().clone() for p in model.parameters()]
    groups = parameter_groups(model)
    sgd = TrainSpec(lr=1.0, optimizer={"type": "sgd"})
    optimizers = OptimizerGroups(sgd, groups, torch.device("cpu"), capturable=False)
    step = TrainStep(model, model, optimizers, groups, torch.device("cpu"), clip_grad_norm=clip)
    step(x, None, eps)
    after = list(model.parameters())
    update = torch.cat([(b - a.detach()).flatten() for b, a in zip(before, after, strict=True)])
    assert float(norm) > 0.05
    assert float(torch.linalg.vector_norm(update)) == pytest.approx(
        min(float(norm), clip), rel=1e-4
    )


def test_the_specs_clip_reaches_the_step(tmp_path: Path, spec_dict) -> None:
    spec = spec_dict(train={**spec_dict()["train"], "clip_grad_norm": 0.5})
    trainer = Trainer(spec, tmp_path / "run", stream=None)
    trainer.fit()
    assert trainer.parts.step.clip == 0.5


def test_an_epoch_whose_every_step_was_skipped_logs_nan_and_says_so(
    tmp_path: Path, monkeypatch, spec_dict
) -> None:
    """Not a loss of 0: the mean over no steps is undefined, and the epoch line says why."""
    for at in range(8):  # 256 examples / 32: every step of the first epoch
        _rig(monkeypatch, "reconstruction", at)
    spec = spec_dict(train={**spec_dict()["train"], "epochs": 2, "on_nonfinite": "skip"})
    lines = io.StringIO()
    Trainer(spec, tmp_path / "run", stream=lines).fit()
    rows = list(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    assert [r["skipped_steps"] for r in rows] == ["8", "8"]
    assert math.isnan(float(rows[0]["train_loss"])) and math.isnan(
        float(rows[0]["train_reconstruction"])
    )
    assert math.isfinite(float(rows[0]["test_loss"]))  # the untrained model, evaluated
    assert all(math.isfinite(float(rows[1][k])) for k in ("train_loss", "test_loss"))
    first, second = lines.getvalue().splitlines()[:2]
    assert "epoch 1/2  train nan (every step was skipped: non-finite)  test" in first
    assert second.startswith("epoch 2/2  train ") and "nan" not in second
