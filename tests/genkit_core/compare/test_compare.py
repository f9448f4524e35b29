"""genkit compare: configurations over seeds, their statistics, differences, table formats."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shutil
import statistics
from pathlib import Path

import pytest
import yaml

from genkit_core.cli import main
from genkit_core.compare import (
    Configuration,
    RunRecord,
    Stat,
    collect,
    columns,
    difference,
    keys,
    render_compare_page,
    rows,
    to_csv,
    to_json,
    to_text,
)
from genkit_core.data import load_data
from genkit_core.errors import RunError
from genkit_core.evaluation import evaluate_test_split
from genkit_core.run import load_run
from genkit_core.run_metrics import measure_run
from genkit_core.training import Trainer

from ...conftest import TINY_RUN


@pytest.mark.parametrize(
    "values", [pytest.param([3.0], id="one"), pytest.param([1.0, 2.5, -0.5, 7.25], id="four")]
)
def test_stat_is_the_mean_and_sample_standard_deviation(values):
    stat = Stat.of(values)
    assert stat.mean == pytest.approx(statistics.fmean(values))
    assert stat.std == (None if len(values) == 1 else pytest.approx(statistics.stdev(values)))
    assert stat.n == len(values)


def test_difference_names_a_changed_section_whole_and_a_changed_field_by_its_path():
    reference = {"likelihood": {"type": "bernoulli"}, "divergence": {"type": "mc_kl", "beta": 1},
                 "train": {"lr": 0.001, "epochs": 2}}  # fmt: skip
    spec = {"likelihood": {"type": "gaussian", "min_scale": 0.01},
            "divergence": {"type": "mc_kl", "beta": 4},
            "train": {"lr": 0.001, "epochs": 5}}  # fmt: skip
    assert difference(spec, reference) == {
        "likelihood": {"type": "gaussian", "min_scale": 0.01},
        "divergence.beta": 4,
        "train.epochs": 5,
    }
    assert difference(reference, reference) == {}


def test_runs_group_by_spec_without_the_seed_and_average_what_evaluation_computes(
    seeded_runs: Path, capsys
):
    found, reference = collect([seeded_runs], iw_samples=5)
    assert "skipping" in capsys.readouterr().err  # the unfinished run
    assert reference == "what all the configurations share"
    assert sorted(c.label for c in found) == ["divergence.beta=1", "divergence.beta=4"]
    for c in found:
        assert [r.seed for r in c.runs] == [0, 1]
        assert {r.run_dir.name for r in c.runs} == {
            f"beta{int(c.spec['divergence']['beta'])}-seed{s}" for s in (0, 1)
        }
    names = columns(found)
    assert names[:3] == ["negative_elbo", "reconstruction", "kl"]
    assert names[-3:] == ["iw_nll", "active_units", "test_loss"]
    assert "latent_units" not in names  # the code's size, not a measurement
    table = rows(found, names, sort="negative_elbo")
    for row in table:  # against genkit eval's own numbers, averaged here
        direct = []
        for run in row.configuration.runs:
            model = load_run(run.run_dir)
            direct.append(evaluate_test_split(model, load_data(model.spec), iw_samples=5))
        for key in ("negative_elbo", "kl", "iw_nll"):
            values = [d[key] for d in direct]
            assert row.stats[key].mean == pytest.approx(statistics.fmean(values), rel=1e-9)
            assert row.stats[key].std == pytest.approx(statistics.stdev(values), rel=1e-9)
    means = [r.stats["negative_elbo"].mean for r in table]
    assert means == sorted(means)
    assert [r.stats["negative_elbo"].mean for r in rows(found, names, "-negative_elbo")] == means[
        ::-1
    ]


def test_the_table_as_text_csv_and_json(seeded_runs: Path):
    found, reference = collect([seeded_runs], iw_samples=5, warn=lambda line: None)
    names = columns(found)
    table = rows(found, names, None)
    text = to_text(table, names, reference)
    assert "negative ELBO" in text and "IW NLL" in text
    assert text.splitlines()[0].split()[:2] == ["#", "divergence.beta"]
    first = table[0].stats["iw_nll"]
    assert f"{first.mean:.2f} ± {first.std:.2f}" in text
    parsed = list(csv.DictReader(io.StringIO(to_csv(table, names))))
    assert [float(r["iw_nll_mean"]) for r in parsed] == [r.stats["iw_nll"].mean for r in table]
    assert all(r["runs"] == "2" for r in parsed)
    data = json.loads(to_json(table, names, reference))
    assert data["configurations"][0]["metrics"]["iw_nll"]["mean"] == first.mean
    assert len(data["configurations"][0]["runs"]) == 2


def test_sorting_by_an_unknown_column_names_the_columns(seeded_runs: Path):
    found, _ = collect([seeded_runs], iw_samples=5, warn=lambda line: None)
    with pytest.raises(RunError, match="--sort elbo: no such column; choose one of negative_elbo"):
        rows(found, columns(found), "elbo")


def test_measured_metrics_are_cached_until_the_run_trains_further(tmp_path: Path, seeded_runs):
    run = tmp_path / "run"
    shutil.copytree(seeded_runs / "beta1-seed0", run)
    (run / "eval.json").unlink(missing_ok=True)
    first = measure_run(run, iw_samples=5)
    cached = json.loads((run / "eval.json").read_text())
    assert cached == json.loads(json.dumps(first))
    cached["negative_elbo"] = -1.0  # a cache hit returns the file as it is
    (run / "eval.json").write_text(json.dumps(cached))
    assert measure_run(run, iw_samples=5)["negative_elbo"] == -1.0
    assert measure_run(run, iw_samples=7)["negative_elbo"] == first["negative_elbo"]  # another K
    Trainer(None, run, resume=True, overrides=["train.epochs=3"], stream=None).fit()
    again = measure_run(run, iw_samples=5)
    assert again["weights"]["epoch"] == 3 and again["negative_elbo"] != first["negative_elbo"]


def test_genkit_compare_prints_the_table_and_writes_the_page_and_files(
    seeded_runs: Path, tmp_path: Path, capsys
):
    argv = ["compare", str(seeded_runs / "beta1-seed0"), str(seeded_runs / "beta4-seed1"),
            "-o", str(tmp_path / "c.html"), "--csv", str(tmp_path / "c.csv"),
            "--json", str(tmp_path / "c.json"), "--iw-samples", "5", "--device", "cpu"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "divergence.beta" in out and f"wrote {tmp_path / 'c.html'}" in out
    page = (tmp_path / "c.html").read_text()
    assert "<table id='configurations'" in page and page.count("<tr data-config=") == 2
    assert (tmp_path / "c.csv").read_text().startswith("configuration,difference,runs")
    assert len(json.loads((tmp_path / "c.json").read_text())["configurations"]) == 2


def test_genkit_compare_json_to_stdout_prints_only_json(seeded_runs: Path, capsys):
    run = str(seeded_runs / "beta1-seed0")
    assert main(["compare", run, "--json", "-", "--no-page", "--iw-samples", "5"]) == 0
    assert json.loads(capsys.readouterr().out)["configurations"][0]["configuration"] == "base"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        pytest.param("missing", "missing: no such directory", id="missing"),
        pytest.param("empty", "empty: neither a run nor a directory of runs", id="empty"),
        pytest.param("file", "file: not a directory; pass run directories", id="file"),
    ],
)
def test_compare_mistakes_are_one_line(tmp_path: Path, capsys, target, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("")
    assert main(["compare", str(tmp_path / target), "--no-page"]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_a_sweeps_base_is_resolved_as_its_runs_are_so_only_what_differs_names_them(
    seeded_runs: Path, tmp_path: Path
):
    sweep = tmp_path / "sweep"  # its base names no divergence: gaussian_kl, estimator auto
    for name in ("beta1-seed0", "beta1-seed1", "beta4-seed0"):  # ... whose runs say analytic
        shutil.copytree(seeded_runs / name, sweep / name)
    base = {**TINY_RUN, "train": {**TINY_RUN["train"], "progress": False}}
    grid = {"divergence.beta": [1.0, 4.0], "train.seed": [0, 1]}
    (sweep / "sweep.yaml").write_text(yaml.safe_dump({"name": "s", "base": base, "grid": grid}))
    found, reference = collect([sweep], iw_samples=5, warn=lambda line: None)
    assert reference == "the base spec of sweep s"
    assert sorted(c.label for c in found) == ["base", "divergence.beta=4"]
    assert keys(found) == ["divergence.beta"]


def test_unrelated_runs_are_told_apart_by_a_column_per_key_in_which_they_differ(
    seeded_runs: Path, tmp_path: Path
):
    other = tmp_path / "other"
    overrides = ["latent_dim=2", "train.lr=0.01", "encoder={type: mlp, hidden: [16]}"]
    Trainer(TINY_RUN, other, overrides=overrides, stream=None).fit()
    found, reference = collect([seeded_runs / "beta1-seed0", other], iw_samples=5)
    assert keys(found) == ["latent_dim", "encoder.hidden", "train.lr"]
    table = rows(found, columns(found), None)
    head = to_text(table, columns(found), reference).splitlines()[0].split()
    assert head[:5] == ["#", "latent_dim", "encoder.hidden", "train.lr", "negative"]
    parsed = list(csv.DictReader(io.StringIO(to_csv(table, columns(found)))))
    assert sorted(r["latent_dim"] for r in parsed) == ["2", "3"]
    assert sorted(r["encoder.hidden"] for r in parsed) == ["16", "32"]


def test_a_nan_or_a_word_in_an_eval_json_neither_crashes_nor_breaks_the_json():
    def configuration(name: str, *values: object) -> Configuration:
        c = Configuration(name, {"train": {}})
        c.runs += [RunRecord(Path(f"{name}{i}"), {"train": {"seed": i}}, {"iw_nll": v})
                   for i, v in enumerate(values)]  # fmt: skip
        return c

    found = [configuration("nan", 1.0, math.nan), configuration("word", 2.0, "abc"),
             configuration("ok", 3.0, 4.0)]  # fmt: skip
    table = rows(found, ["iw_nll"], None)
    assert [r.configuration.key for r in table] == ["word", "ok", "nan"]  # NaN sorts last
    assert table[0].stats["iw_nll"].n == 1  # the word counts as missing
    assert "nan" in to_text(table, ["iw_nll"], "r")
    data = json.loads(to_json(table, ["iw_nll"], "r"), parse_constant=_refuse)
    assert data["configurations"][2]["metrics"]["iw_nll"]["mean"] is None


def _refuse(constant: str) -> None:
    raise AssertionError(f"{constant} is not JSON")


def test_markup_in_run_names_and_spec_values_is_escaped_on_the_page():
    evil = "<script>alert(1)</script>'\""
    found = []
    for i, value in enumerate((evil, "plain")):
        spec = {"data": {"type": "tensor_file", "path": value}, "train": {"seed": 0}}
        c = Configuration(str(i), spec, values={"data.path": value},
                          difference={"data.path": value})  # fmt: skip
        c.runs.append(RunRecord(Path(f"runs/{evil}{i}"), spec, {"iw_nll": float(i)}))
        found.append(c)
    page = render_compare_page(rows(found, ["iw_nll"], None), ["iw_nll"], evil)
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)" in page
    scripts = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert all("alert" not in s for s in scripts)
