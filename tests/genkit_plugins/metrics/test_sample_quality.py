"""fd and precision_recall on runs: genkit eval end to end, the images they compare, and what
they refuse.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from genkit_core import DataError, MetricData, RunError, SpecError, build_model, load_spec
from genkit_core.cli import main
from genkit_core.data import load_data
from genkit_core.interfaces import DataInfo
from genkit_core.run import load_run
from genkit_core.run_metrics import metric_spec
from genkit_core.testing import TINY_SPEC, tiny_spec
from genkit_plugins.metrics import FD, PrecisionRecall
from genkit_plugins.metrics._quality import _grey, default_features, draw_images

PIXELS = "{type: fd, n: 50, features: {type: pixels}}"


@pytest.fixture
def run(trained_runs, tmp_path: Path):
    """A copy of the session's tiny digits VAE (2 epochs on 192 images)."""
    return Path(shutil.copytree(trained_runs["vae"], tmp_path / "vae"))


def _metric(cls, **params):
    name = {FD: "fd", PrecisionRecall: "precision_recall"}[cls]
    return cls(metric_spec({"type": name, **params}))


@pytest.mark.slow  # the digit classifier's 1,000 steps, once per session
def test_genkit_eval_gives_both_metrics_and_their_floors_on_a_digits_vae(run: Path, capsys):
    args = ["eval", str(run), "--metric", "fd", "--metric", "precision_recall", "--json"]
    assert main(args) == 0
    metrics = json.loads(capsys.readouterr().out)["metrics"]
    fd, pr = metrics["fd"]["scores"], metrics["precision_recall"]["scores"]
    assert set(fd) == {"fd", "rec", "floor"}
    assert set(pr) == {"precision", "recall", "precision_floor", "recall_floor"}
    assert 0 < fd["floor"] < fd["fd"]  # a model of 2 epochs is far from the data
    assert pr["precision_floor"] > 0.5 and pr["recall_floor"] > 0.5
    assert json.loads((run / "eval.json").read_text())["metrics"] == metrics
    assert main(args) == 0  # kept: read back, not computed again
    assert json.loads(capsys.readouterr().out)["metrics"] == metrics


def test_a_fitted_prior_is_measured_under_its_own_key_and_shown_under_its_samples(
    run: Path, capsys
):
    from genkit_core import fit_prior
    from genkit_core.report.figures import prior_pictures
    from genkit_core.report.view import open_run

    fit_prior(run, {"type": "code_gaussian"}, name="gauss")
    own, fitted = PIXELS, "{type: fd, n: 50, features: {type: pixels}, prior: gauss}"
    assert main(["eval", str(run), "--metric", own, "--metric", fitted, "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)["metrics"]
    assert set(metrics) == {"fd", "fd@gauss"}
    assert metrics["fd@gauss"]["params"]["prior"] == "gauss"
    # the same floor (the same test and training images), other draws: another distance
    ours, theirs = metrics["fd"]["scores"], metrics["fd@gauss"]["scores"]
    assert ours["floor"] == theirs["floor"] and ours["fd"] != theirs["fd"]
    # compare's columns keep them apart; the report writes each figure under its samples
    assert main(["compare", str(run), "--no-page", "--csv", "-"]) == 0
    header = capsys.readouterr().out.splitlines()[0].split(",")
    assert {"fd.fd_mean", "fd@gauss.fd_mean"} <= set(header)
    titles = [p.title for p in prior_pictures(open_run(run), n=4)]
    assert titles == [
        f"standard_normal (the run's own): FD {ours['fd']:.2f}, floor {ours['floor']:.2f}",
        f"gauss: FD {theirs['fd']:.2f}, floor {theirs['floor']:.2f}",
    ]


def test_genkit_eval_keeps_both_metrics_in_eval_json(run: Path, capsys):
    pixels = "{type: precision_recall, n: 50, features: pixels}"
    args = ["eval", str(run), "--metric", PIXELS, "--metric", pixels, "--json"]
    assert main(args) == 0
    metrics = json.loads(capsys.readouterr().out)["metrics"]
    assert metrics["fd"]["scores"]["floor"] < metrics["fd"]["scores"]["fd"]
    assert set(metrics["precision_recall"]["scores"]) == set(PrecisionRecall.scores)
    assert json.loads((run / "eval.json").read_text())["metrics"] == metrics


def test_the_scores_are_reproducible_under_a_seed_and_change_with_it(run: Path):
    model = load_run(run)
    data = MetricData("digits", lambda: load_data(model.spec))  # type: ignore[arg-type]
    pixels = {"n": 60, "features": {"type": "pixels"}}
    scores = [_metric(FD, **pixels)(model, data, np.random.default_rng(s)) for s in (0, 0, 1)]
    assert scores[0] == scores[1]
    assert scores[0]["fd"] != scores[2]["fd"]


def test_a_cvae_draws_each_class_and_reconstructs_with_its_labels(trained_runs):
    model = load_run(trained_runs["cvae"])
    data = MetricData("digits", lambda: load_data(model.spec))  # type: ignore[arg-type]
    scores = _metric(PrecisionRecall, n=40, features="pixels")(  # a name is a spec too
        model, data, np.random.default_rng(0)
    )
    assert 0 <= scores["precision"] <= 1
    fd = _metric(FD, n=40, features={"type": "pixels"})(model, data, np.random.default_rng(0))
    assert fd["rec"] > 0


def test_an_autoencoder_without_a_prior_is_refused_in_one_line(trained_runs, capsys, monkeypatch):
    monkeypatch.setenv("GENKIT_CACHE", "/nonexistent")  # the classifier is not even trained
    assert main(["eval", str(trained_runs["ae"]), "--metric", "fd"]) == 1
    err = capsys.readouterr().err.strip()
    assert "no prior to draw images from" in err and "code_gaussian" in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        pytest.param("{type: fd, prior: mine}", r"no prior fitted under the name 'mine' "
                     r"\(fitted: none yet\); fit one with genkit fit-prior",
                     id="unknown-named-prior"),
        pytest.param("{type: fd, prior: ../x}", r"metric.prior: prior name '../x': use 1 to 64",
                     id="unsafe-named-prior"),
        pytest.param("{type: fd, features: {type: incepton}}",
                     r"unknown feature_extractor 'incepton'; did you mean 'inception'", id="typo"),
        pytest.param("{type: fd, features: {type: inception}}",
                     r"metric.features.path: Field required", id="no-path"),
        pytest.param("{type: fd, features: {type: inception, path: /nope.pth}}",
                     r"no such file /nope.pth; genkit does not download", id="missing-weights"),
        pytest.param("{type: precision_recall, k: 0}", r"metric.k: Input should be greater",
                     id="k"),
        pytest.param("{type: precision_recall, n: 3}", r"metric.n: 3 images cannot give each "
                     r"one k=3 neighbours; raise n above k", id="n-within-k"),
        pytest.param("{type: fd, features: 5}", r"metric.features: Value error, expected a "
                     r"feature extractor's name or a mapping", id="features-a-number"),
        pytest.param("{type: fd, features: {type: digit_classifier, steps: 0}}",
                     r"metric.features.steps: Input should be greater than 0", id="features-field"),
    ],
)  # fmt: skip
def test_mistakes_are_one_line_naming_the_field(run: Path, capsys, metric, message):
    assert main(["eval", str(run), "--metric", metric]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert re.search(message, err), err


def test_digits_and_mnist_have_a_default_extractor_and_other_images_name_one():
    assert default_features((1, 8, 8), "fd") == {"type": "digit_classifier"}
    assert default_features((784,), "fd") == {"type": "digit_classifier"}  # flattened MNIST
    message = r"features: no default feature extractor for .*\(3, 32, 32\); name one, e.g. "
    with pytest.raises(SpecError, match=message + r"--metric '\{type: fd, features"):
        default_features((3, 32, 32), "fd")


def test_examples_that_are_not_images_are_refused():
    model = build_model(tiny_spec(latent_dim=2), data=DataInfo((5,), name="vectors")).eval()
    data = MetricData("vectors", lambda: pytest.fail("loaded"))
    with pytest.raises(DataError, match=r"fd compares images, and data 'vectors' has examples"):
        _metric(FD)(model, data, np.random.default_rng(0))


def test_draws_come_from_the_prior_under_the_metrics_seed(run: Path):
    model = load_run(run)
    state = torch.random.get_rng_state()
    a = draw_images(model, 7, np.random.default_rng(3), batch_size=3)
    b = draw_images(model, 7, np.random.default_rng(3), batch_size=3)
    assert a.shape == (7, 1, 8, 8)
    assert torch.equal(a, b)
    assert not torch.equal(a, draw_images(model, 7, np.random.default_rng(4), batch_size=3))
    assert torch.equal(torch.random.get_rng_state(), state)


def test_a_binarised_run_is_compared_with_the_grey_images(trained_runs):
    spec = load_spec(tiny_spec(data={**TINY_SPEC["data"], "binarize": "dynamic"}))
    model = build_model(spec, data=DataInfo((1, 8, 8), num_classes=10, name="digits")).eval()
    data = MetricData("digits", lambda: load_data(spec))
    binary = torch.as_tensor(data.bundle.test.x).unique()
    assert len(binary) <= 2
    grey = torch.as_tensor(_grey(model, data).bundle.test.x).float().unique()
    assert len(grey) > 2


@pytest.mark.slow
def test_genkit_eval_of_the_quality_metrics_imports_no_sklearn_scipy_or_torchvision(run: Path):
    probe = (
        "import sys\nfrom genkit_core.cli import main\n"
        f"assert main(['eval', {str(run)!r}, '--metric', {PIXELS!r}]) == 0\n"
        "print(sorted(m for m in ('sklearn', 'scipy', 'torchvision') if m in sys.modules),"
        " file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "[]"


def test_a_cvae_of_condition_vectors_is_refused_with_the_reason():
    spec = tiny_spec(model="cvae", latent_dim=2)
    info = DataInfo((1, 8, 8), condition_dim=3, name="conditioned")
    model = build_model(spec, data=info).eval()
    with pytest.raises(RunError, match=r"conditioned on vectors, and there is no condition"):
        draw_images(model, 4, np.random.default_rng(0))
