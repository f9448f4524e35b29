"""The report and compare pages show samples of each prior fitted to a run afterwards, side by
side, each named under its grid; a run without any keeps the page it had."""

from __future__ import annotations

import shutil
from pathlib import Path

from genkit_core.cli import main
from genkit_core.fitted_priors import PRIOR_WEIGHTS, fit_prior
from genkit_core.report import write_report

MAF = {"type": "code_maf", "transforms": 1, "hidden_features": [8], "epochs": 1}


def _with_priors(run: Path, where: Path) -> Path:
    copy = Path(shutil.copytree(run, where))
    fit_prior(copy, MAF)
    fit_prior(copy, {**MAF, "seed": 1}, name="own")
    return copy


def test_the_report_shows_each_fitted_prior_named_under_its_grid(trained_runs, tmp_path):
    run = _with_priors(trained_runs["vae"], tmp_path / "vae")
    page = write_report(run, iw_samples=0).read_text()
    section = page[page.index("<section id='priors'><h2>Samples by prior</h2>") :]
    section = section[: section.index("</section>")]
    captions = ["standard_normal (the run&#x27;s own)", "code_maf", "own"]
    assert [f"<figcaption>{c}</figcaption>" in section for c in captions] == [True] * 3
    assert section.count("<img ") == 3 and "Not drawn" not in section


def test_a_damaged_fitted_prior_is_a_note_and_the_others_are_drawn(trained_runs, tmp_path):
    run = _with_priors(trained_runs["ae"], tmp_path / "ae")
    weights = run / "priors" / "code_maf" / PRIOR_WEIGHTS
    weights.write_bytes(weights.read_bytes()[:-50])
    page = write_report(run, iw_samples=0).read_text()
    section = page[page.index("<section id='priors'>") :]
    assert "code_maf/prior.safetensors" in section and "Not drawn" not in section
    assert "<figcaption>own</figcaption>" in section


def test_compare_shows_the_fitted_priors_of_each_configuration(trained_runs, tmp_path):
    vae = _with_priors(trained_runs["vae"], tmp_path / "vae")
    ae = Path(shutil.copytree(trained_runs["ae"], tmp_path / "ae"))
    out = tmp_path / "compare.html"
    assert main(["compare", str(vae), str(ae), "-o", str(out), "--iw-samples", "0"]) == 0
    page = out.read_text()
    row = page[page.index("<tr><th>samples by prior</th>") :]
    assert "<figcaption>own</figcaption>" in row and "<figcaption>code_maf</figcaption>" in row
