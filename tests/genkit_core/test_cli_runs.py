"""What the train verb does to run directories: the default one, --overwrite, --resume."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from genkit_core.cli import main

QUICK = ["--set", "train.epochs=1", "-q"]


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch, spec_dict) -> Path:
    """A working directory holding vae.yaml, a tiny spec; its default run is runs/vae."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "vae.yaml").write_text(yaml.safe_dump(spec_dict()))
    return tmp_path


@pytest.mark.slow
def test_the_default_run_directory_is_refused_then_replaced_with_overwrite(in_tmp: Path, capsys):
    # the original report: --overwrite without -o wrote runs/vae-1, runs/vae-2, ...
    assert main(["train", "vae.yaml", *QUICK]) == 0
    first = (in_tmp / "runs/vae/model.safetensors").read_bytes()
    assert main(["train", "vae.yaml", *QUICK]) == 1
    err = capsys.readouterr().err
    assert "runs/vae: already holds files; pass --overwrite to replace the run" in err
    assert (in_tmp / "runs/vae/model.safetensors").read_bytes() == first
    assert main(["train", "vae.yaml", "--overwrite", *QUICK, "--set", "train.seed=1"]) == 0
    assert f"trained vae in {Path('runs/vae')}" in capsys.readouterr().out
    assert sorted(p.name for p in (in_tmp / "runs").iterdir()) == ["vae"]
    assert (in_tmp / "runs/vae/model.safetensors").read_bytes() != first
    assert "seed: 1" in (in_tmp / "runs/vae/spec.yaml").read_text()


@pytest.fixture
def finished_vae(trained_runs, tmp_path: Path) -> Path:
    """A copy of a finished tiny vae run (2 epochs, constant learning rate)."""
    run = tmp_path / "vae"
    shutil.copytree(trained_runs["vae"], run)
    return run


def _contents(run: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(run.iterdir())}


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        pytest.param(
            ["latent_dim=7"],
            r"cannot change latent_dim \(3 -> 7\); it may change only train.epochs, ",
            id="latent_dim",
        ),
        pytest.param(
            ["train.lr=0.5", "train.epochs=3"],
            r"cannot change train.lr \(0.001 -> 0.5\)",
            id="lr-on-a-finished-run",
        ),
        pytest.param(
            ["encoder.hidden=[64]"], r"cannot change encoder.hidden \(\[32\] -> \[64\]\)", id="net"
        ),
        pytest.param(
            ["train.epochs=1"],
            r"train.epochs=1 is fewer than the 2 epochs already trained; a resumed run can only",
            id="fewer-epochs",
        ),
    ],
)
def test_a_refused_resume_changes_nothing(finished_vae: Path, capsys, sets, message):
    # the original report: the refused latent_dim was already written into spec.yaml, after
    # which eval, sample and --resume all failed
    before = _contents(finished_vae)
    argv = ["train", "--resume", str(finished_vae), "-q"]
    assert main([*argv, *(a for s in sets for a in ("--set", s))]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert re.search(message, err), err
    assert _contents(finished_vae) == before
    assert main(["eval", str(finished_vae), "--iw-samples", "0"]) == 0


def test_resuming_a_finished_run_trains_nothing_and_says_so(finished_vae: Path, capsys):
    before = _contents(finished_vae)
    assert main(["train", "--resume", str(finished_vae), "--set", "train.progress=off"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"nothing to train: {finished_vae} has trained all 2 epochs")
    assert "trained vae" not in out
    assert _contents(finished_vae) == before


@pytest.mark.slow
def test_resume_may_train_longer_and_records_it(finished_vae: Path, capsys):
    assert main(["train", "--resume", str(finished_vae), "--set", "train.epochs=3", "-q"]) == 0
    assert "trained vae" in capsys.readouterr().out
    assert yaml.safe_load((finished_vae / "spec.yaml").read_text())["train"]["epochs"] == 3


def test_a_stretched_schedule_cannot_change_its_length(tmp_path: Path, train_tiny, capsys):
    run = train_tiny(tmp_path / "cos", "vae", ("train.schedule.type=cosine",)).run_dir
    before = _contents(run)
    assert main(["train", "--resume", str(run), "--set", "train.epochs=4"]) == 1
    assert "the cosine schedule is stretched to train.epochs" in capsys.readouterr().err
    assert _contents(run) == before


def test_a_collapsed_posterior_is_warned_about(tmp_path: Path, capsys, spec_dict, write_spec):
    spec = write_spec(spec_dict(divergence={"type": "gaussian_kl", "beta": 1000.0}))
    assert main(["train", str(spec), "-o", str(tmp_path / "run"), "-q"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("genkit: warning: no latent unit is active after 1 epoch (the ")
    assert "try divergence.anneal" in err and err.count("\n") == 1


def test_without_quiet_the_warning_is_printed_once(tmp_path: Path, capsys, spec_dict, write_spec):
    spec = write_spec(spec_dict(divergence={"type": "gaussian_kl", "beta": 1000.0}))
    assert main(["train", str(spec), "-o", str(tmp_path / "run")]) == 0
    assert capsys.readouterr().err.count("genkit: warning: no latent unit is active") == 1


def test_a_healthy_run_has_no_warning(tmp_path: Path, spec_dict):
    from genkit_core.training import Trainer

    train = {**spec_dict()["train"], "epochs": 4, "lr": 0.01}  # units wake up in a few epochs
    result = Trainer(spec_dict(train=train), tmp_path / "run", stream=None).fit()
    assert result.warnings == () and result.new_steps == result.steps > 0


@pytest.mark.parametrize(
    ("changes", "note"),
    [
        pytest.param(
            {"model": "ae", "objective": {"type": "rae"}},
            "(the rae objective; genkit eval gives -log p(x|z) at the code beside it)",
            id="rae-no-elbo",
        ),
        pytest.param(
            {"objective": {"type": "iwae", "samples": 4}},
            "(the iwae objective; genkit eval gives the negative ELBO beside it)",
            id="iwae",
        ),
        pytest.param(
            {"objective": {"type": "factor_vae"}},
            "(the factor_vae objective; genkit eval gives the negative ELBO beside it)",
            id="factor_vae-adds-to-the-elbo",
        ),
        pytest.param({"model": "ae"}, "(-log p(x|z) at each test example's code)", id="ae"),
        pytest.param({}, "(the negative ELBO with one draw of z per test example)", id="elbo"),
    ],
)
def test_the_test_loss_note_says_only_what_is_true_of_the_model(spec_dict, changes, note):
    """An autoencoder has no ELBO: genkit eval gives it its reconstruction term alone."""
    from genkit_core import build_model, load_spec
    from genkit_core.cli import _loss_note

    spec = load_spec(spec_dict(**changes))
    assert _loss_note(spec, build_model(spec)) == f" {note}"


def test_eval_names_the_negative_elbo_and_the_training_loss_beside_it(train_tiny, tmp_path, capsys):
    """A beta_tc run's test loss weighs its total correlation (docs/terms.md): genkit eval
    prints it beside the negative ELBO, each named, and says which one is the bound."""
    import json

    run = train_tiny(tmp_path / "run", "vae", ("divergence={type: beta_tc, beta: 6}",)).run_dir
    assert main(["eval", str(run), "--iw-samples", "0", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["test_loss"] > report["negative_elbo"] + 5  # 5 TC, the TC at least log N
    assert main(["eval", str(run), "--iw-samples", "0"]) == 0
    out = capsys.readouterr().out
    assert f"  negative ELBO     {report['negative_elbo']:10.4f}   (reconstruction + KL)\n" in out
    assert (
        f"  training loss     {report['test_loss']:10.4f}   (its last test loss in training)\n"
        "    the training objective, which weights its divergence: not the negative ELBO; "
        "docs/terms.md\n" in out
    )
