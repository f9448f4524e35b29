"""The genkit command: every verb, its --help, and users' mistakes as one line and status 1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from genkit_core.cli import main


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize(
    "verb", ["train", "eval", "sample", "reconstruct", "plugins", "schema", "validate"]
)
def test_every_verb_has_help(verb, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([verb, "--help"])
    assert exit_info.value.code == 0
    assert "usage: genkit " + verb in capsys.readouterr().out


def test_train_writes_a_run_and_reports_the_test_loss(
    tmp_path: Path, spec_dict, write_spec, capsys
):
    spec = write_spec(spec_dict())
    status, out, _ = _run(
        capsys, "train", str(spec), "-o", str(tmp_path / "run"), "--set", "train.epochs=1", "-q"
    )
    assert status == 0
    assert f"trained vae in {tmp_path / 'run'}" in out
    assert "test loss" in out
    assert (tmp_path / "run" / "model.safetensors").is_file()


def test_train_refuses_an_existing_run_without_overwrite(
    tmp_path: Path, spec_dict, write_spec, capsys
):
    spec = write_spec(spec_dict())
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.safetensors").write_bytes(b"precious")
    status, _, err = _run(capsys, "train", str(spec), "-o", str(run), "-q")
    assert status == 1
    assert err.count("\n") == 1 and "already holds files; pass --overwrite" in err
    assert (run / "model.safetensors").read_bytes() == b"precious"


def test_eval_prints_the_negative_elbo_and_its_terms(trained_runs, capsys):
    status, out, _ = _run(capsys, "eval", str(trained_runs["vae"]), "--iw-samples", "20")
    assert status == 0
    for line in (
        "negative ELBO",
        "reconstruction",
        "KL",
        "-log p(x), IW",
        "(K = 20)",
        "active units",
    ):
        assert line in out


def test_eval_json_holds_every_number(trained_runs, capsys):
    status, out, _ = _run(capsys, "eval", str(trained_runs["vae"]), "--json", "--iw-samples", "10")
    report = json.loads(out)
    assert status == 0
    assert report["negative_elbo"] == pytest.approx(report["reconstruction"] + report["kl"])
    assert (
        report["examples"] == 64
        and report["iw_samples"] == 10
        and report["unit"] == "nats per example"
    )
    assert 0 <= report["active_units"] <= report["latent_dim"] == 3


def test_eval_of_an_ae_reports_the_reconstruction(trained_runs, capsys):
    status, out, _ = _run(capsys, "eval", str(trained_runs["ae"]), "--json")
    report = json.loads(out)
    assert status == 0 and "reconstruction" in report and "negative_elbo" not in report


def test_sample_with_a_label_writes_a_png(trained_runs, tmp_path: Path, capsys):
    out_file = tmp_path / "sevens.png"
    status, out, _ = _run(
        capsys, "sample", str(trained_runs["cvae"]), "-n", "8", "--label", "7", "-o", str(out_file)
    )
    assert status == 0 and out_file.read_bytes().startswith(b"\x89PNG")
    assert out.strip() == f"wrote {out_file}"


@pytest.mark.parametrize(
    ("kind", "label", "message"),
    [
        pytest.param(
            "cvae", "10", "--label 10 is out of range: the classes are 0 to 9", id="out-of-range"
        ),
        pytest.param("vae", "3", "--label needs a cvae", id="not-a-cvae"),
    ],
)
def test_sample_label_mistakes(trained_runs, capsys, kind, label, message):
    status, _, err = _run(capsys, "sample", str(trained_runs[kind]), "--label", label)
    assert status == 1 and message in err and err.count("\n") == 1


def test_sampling_an_ae_is_explained(trained_runs, capsys):
    status, _, err = _run(capsys, "sample", str(trained_runs["ae"]))
    assert status == 1 and "is an autoencoder without a prior to sample from" in err


def test_reconstruct_writes_a_png(trained_runs, tmp_path: Path, capsys):
    status, _, _ = _run(
        capsys, "reconstruct", str(trained_runs["ae"]), "-o", str(tmp_path / "r.png")
    )
    assert status == 0 and (tmp_path / "r.png").stat().st_size > 0


def test_plugins_lists_every_component_with_its_package(capsys):
    status, out, _ = _run(capsys, "plugins")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["KIND", "NAME", "PACKAGE"]
    assert any(line.split()[:3] == ["encoder", "mlp", "genkit-lvm"] for line in lines)
    listed = json.loads(_run(capsys, "plugins", "--json")[1])
    assert {"kind": "divergence", "name": "gaussian_kl"} in [
        {"kind": c["kind"], "name": c["name"]} for c in listed["components"]
    ]
    assert all(c["package"].startswith("genkit-lvm") for c in listed["components"])


def test_schema_is_json_schema_naming_the_components(capsys):
    status, out, _ = _run(capsys, "schema")
    schema = json.loads(out)
    assert status == 0
    assert {"model", "latent_dim", "encoder", "train"} <= set(schema["properties"])
    assert '"mlp"' in out and '"gaussian_kl"' in out


def test_validate_says_ok_or_lists_each_error_with_its_field(
    tmp_path: Path, spec_dict, write_spec, capsys
):
    good = write_spec(spec_dict(), "good.yaml")
    status, out, _ = _run(capsys, "validate", str(good))
    assert status == 0 and out.startswith(f"{good}: ok (vae, latent_dim 4,")
    bad = write_spec(spec_dict(latent_dim=0, encoder={"type": "mpl"}), "bad.yaml")
    status, _, err = _run(capsys, "validate", str(bad))
    assert status == 1
    assert err.splitlines() == [
        f"{bad}: latent_dim: Input should be greater than 0 (got 0)",
        f"{bad}: encoder: unknown encoder 'mpl'; did you mean 'mlp'? known: conv, mlp",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(
            ["train", "missing.yaml"],
            "missing.yaml: cannot read the spec: no such file",
            id="missing-spec",
        ),
        pytest.param(["eval", "no_such_run"], "no_such_run: not a genkit run", id="missing-run"),
        pytest.param(["train"], "name a spec to train, or --resume RUN_DIR", id="nothing-to-train"),
    ],
)
def test_mistakes_are_one_line_and_status_1(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, _, err = _run(capsys, *argv)
    assert status == 1
    assert err == f"genkit: error: {message}" + err.split(message, 1)[1]
    assert err.count("\n") == 1


def test_python_dash_m_genkit_core_runs_the_cli(tmp_path: Path, spec_dict):
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(spec_dict()))
    done = subprocess.run(
        [sys.executable, "-m", "genkit_core", "validate", str(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert ": ok (vae" in done.stdout


def test_a_genkit_warning_is_one_line_and_others_keep_python_s_form(monkeypatch, capsys):
    import warnings

    from genkit_core import GenkitWarning, cli

    def warn(args: object) -> int:
        warnings.warn("the tracker went away; training goes on", GenkitWarning, stacklevel=1)
        warnings.warn("a library's own warning", UserWarning, stacklevel=1)
        return 0

    monkeypatch.setitem(cli._COMMANDS, "plugins", (warn, "list"))
    with warnings.catch_warnings(record=True) as passed_on:
        warnings.simplefilter("always")
        assert cli.main(["plugins"]) == 0
    err = capsys.readouterr().err
    assert err == "genkit: warning: the tracker went away; training goes on\n"
    assert [str(w.message) for w in passed_on] == ["a library's own warning"]
