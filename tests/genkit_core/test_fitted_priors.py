"""Priors fitted to a finished run (genkit fit-prior, fit_prior, load_run(prior=)): a VAE and an
AE each get code_maf, code_vae and code_diffusion without retraining; the run's own files stay
as they were; names are checked; a fit stopped by Ctrl-C continues to the same weights."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
from pathlib import Path

import pytest
import torch

from genkit_core import SpecError
from genkit_core.cli import main
from genkit_core.errors import RunError
from genkit_core.files import lock_file, read_tensors
from genkit_core.fitted_priors import (
    FIT_CHECKPOINT,
    FIT_LOCK,
    PRIOR_WEIGHTS,
    fit_prior,
    fitted_priors,
)
from genkit_core.model import LatentVariableModel
from genkit_core.run import load_run
from genkit_plugins.priors.code_vae import CodeVAE

SAMPLERS = {
    "code_maf": {"type": "code_maf", "transforms": 1, "hidden_features": [8], "epochs": 1},
    "code_vae": {"type": "code_vae", "hidden": 8, "layers": 1, "epochs": 1, "iw_samples": 2},
    "code_diffusion": {"type": "code_diffusion", "hidden": 8, "layers": 1, "epochs": 1,
                       "steps": 10, "sample_steps": 3},
}  # fmt: skip


@pytest.fixture
def runs(trained_runs, tmp_path: Path) -> dict[str, Path]:
    """Copies of the session's tiny runs, so the priors fitted here stay in this test."""
    return {k: Path(shutil.copytree(v, tmp_path / k)) for k, v in trained_runs.items()}


def _digests(run: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in run.iterdir() if p.is_file()
    }


@pytest.mark.parametrize("kind", ["vae", "ae"])
def test_each_sampler_is_fitted_to_a_trained_run_from_python(runs, kind):
    run = runs[kind]
    before = _digests(run)
    for name, spec in SAMPLERS.items():
        assert fit_prior(run, spec) == run / "priors" / name
    assert fitted_priors(run) == sorted(SAMPLERS)
    assert _digests(run) == before  # the run's spec, weights and record are untouched
    for name in SAMPLERS:
        model = load_run(run, prior=name)
        assert model.prior is not None and model.prior.params.type == name
        torch.manual_seed(0)
        first = model.sample(4)
        torch.manual_seed(0)
        assert first.shape == (4, 1, 8, 8) and torch.equal(first, model.sample(4))
    own = load_run(run).prior
    assert own is None or type(own).__name__ not in ("CodeMAF", "CodeVAE", "CodeDiffusion")


def test_the_verb_fits_and_sample_draws_from_the_fitted_prior(runs, capsys):
    run = runs["vae"]
    spec = "{type: code_vae, hidden: 8, layers: 1, epochs: 1}"
    assert (
        main(["fit-prior", str(run), "--prior", spec, "--name", "second", "--device", "cpu"]) == 0
    )
    assert capsys.readouterr().out == (
        f"wrote {run / 'priors' / 'second'}; draw from it with genkit sample {run} --prior second\n"
    )
    assert main(["sample", str(run), "--prior", "second", "-n", "4"]) == 0
    assert (run / "sample_second.png").is_file()
    assert sorted(p.name for p in (run / "priors" / "second").iterdir()) == [
        "prior.safetensors",
        "prior.yaml",
    ]


@pytest.mark.parametrize(
    "name", ["../escape", "a/b", "..", "", ".hidden", "x" * 65, "a\nb"], ids=repr
)
def test_an_unsafe_prior_name_is_refused_in_one_line(runs, name, capsys):
    run = runs["ae"]
    assert main(["fit-prior", str(run), "--prior", "code_maf", "--name", name]) == 1
    assert main(["sample", str(run), "--prior", name]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(line.startswith("genkit: error: prior name ") for line in err)
    assert not (run / "priors").exists() and not (run.parent / "escape").exists()


def test_a_second_fit_of_one_name_while_the_first_runs_is_refused_and_the_first_kept(runs):
    run = runs["ae"]
    fit_prior(run, SAMPLERS["code_maf"])
    weights = run / "priors" / "code_maf" / PRIOR_WEIGHTS
    before = weights.read_bytes()
    held = lock_file(run / "priors" / "code_maf" / FIT_LOCK)  # as the first fit holds it
    try:
        with pytest.raises(
            RunError,
            match="another process is fitting the prior 'code_maf' "
            "now; let it finish, or fit this one under another --name",
        ):
            fit_prior(run, {**SAMPLERS["code_maf"], "seed": 1}, overwrite=True)
    finally:
        assert held is not None
        held.close()
    assert weights.read_bytes() == before  # the first fit's weights untouched
    fit_prior(run, {**SAMPLERS["code_maf"], "seed": 1}, overwrite=True)  # free again


def test_a_priors_folder_that_is_a_link_is_not_written_through(runs, tmp_path: Path):
    run, elsewhere = runs["ae"], tmp_path / "elsewhere"
    elsewhere.mkdir()
    (run / "priors").symlink_to(elsewhere)
    with pytest.raises(RunError, match="priors: a link, which genkit does not write through"):
        fit_prior(run, SAMPLERS["code_maf"])
    assert list(elsewhere.iterdir()) == []


def test_a_fitted_prior_is_kept_unless_overwritten(runs):
    run = runs["ae"]
    fit_prior(run, SAMPLERS["code_maf"])
    with pytest.raises(RunError, match="already fitted under the name 'code_maf'; pass --over"):
        fit_prior(run, SAMPLERS["code_maf"])
    fit_prior(run, {**SAMPLERS["code_maf"], "seed": 1}, overwrite=True)
    assert read_tensors(run / "priors" / "code_maf" / PRIOR_WEIGHTS)[1]["prior"]["seed"] == 1


@pytest.mark.parametrize(
    ("prior", "message"),
    [
        pytest.param("vamp", r"prior.type: the 'vamp' prior is trained with the model, not fitted",
                     id="not-fitted-after-training"),
        pytest.param("{type: code_maf, epoch: 2}", r"prior.epoch: code_maf takes no 'epoch'",
                     id="unknown-field"),
        pytest.param("code_mfa", r"did you mean 'code_maf'", id="unknown-prior"),
    ],
)  # fmt: skip
def test_a_prior_that_cannot_be_fitted_is_refused_before_any_work(runs, prior, message):
    with pytest.raises(SpecError, match=message):
        fit_prior(runs["ae"], prior)
    assert not (runs["ae"] / "priors").exists()


def test_an_unknown_fitted_prior_lists_those_there_are(runs):
    fit_prior(runs["ae"], SAMPLERS["code_vae"])
    with pytest.raises(
        RunError, match=r"no prior fitted under the name 'maf' \(fitted: code_vae\)"
    ):
        load_run(runs["ae"], prior="maf")


def test_ctrl_c_during_the_verb_keeps_the_fit_and_the_same_command_finishes_it(runs, monkeypatch):
    """Ctrl-C in the 3rd step: exit 130 with the fit's state kept; the same command again ends
    with the weights of an uninterrupted fit, bit for bit, and removes the fit's checkpoint."""
    spec = "{type: code_vae, hidden: 8, layers: 1, epochs: 3, batch_size: 64}"
    shutil.copytree(runs["ae"], runs["ae"].parent / "whole")
    assert main(["fit-prior", str(runs["ae"].parent / "whole"), "--prior", spec]) == 0
    loss, calls = CodeVAE.loss, []

    def interrupted(self, u):
        calls.append(1)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGINT)
        return loss(self, u)

    monkeypatch.setattr(CodeVAE, "loss", interrupted)
    where = runs["ae"] / "priors" / "code_vae"
    assert main(["fit-prior", str(runs["ae"]), "--prior", spec]) == 130
    assert (where / FIT_CHECKPOINT).is_file() and not (where / PRIOR_WEIGHTS).exists()
    monkeypatch.setattr(CodeVAE, "loss", loss)
    assert main(["fit-prior", str(runs["ae"]), "--prior", spec]) == 0
    assert not (where / FIT_CHECKPOINT).exists()
    whole = read_tensors(runs["ae"].parent / "whole" / "priors" / "code_vae" / PRIOR_WEIGHTS)[0]
    resumed = read_tensors(where / PRIOR_WEIGHTS)[0]
    assert whole.keys() == resumed.keys()
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)


def test_codes_of_a_diverged_run_are_refused_and_the_fitted_prior_is_kept(runs, monkeypatch):
    run = runs["ae"]
    fit_prior(run, SAMPLERS["code_maf"])
    before = (run / "priors" / "code_maf" / PRIOR_WEIGHTS).read_bytes()
    monkeypatch.setattr(
        LatentVariableModel, "codes_of", lambda self, b: torch.full((4, 3), torch.nan)
    )
    with pytest.raises(RunError, match="hold NaN or inf \\(the model diverged\\)"):
        fit_prior(run, {**SAMPLERS["code_maf"], "seed": 2}, overwrite=True)
    assert (run / "priors" / "code_maf" / PRIOR_WEIGHTS).read_bytes() == before
