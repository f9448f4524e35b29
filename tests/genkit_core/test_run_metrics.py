"""Metric components on a run: genkit eval --metric, the eval.json cache, compare's columns."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from genkit_core import (
    Component,
    DataError,
    Metric,
    MetricParams,
    PluginError,
    Registry,
    RunError,
    SpecError,
)
from genkit_core.cli import main
from genkit_core.run_metrics import evaluate_metrics, measure_run, metric_spec, score_columns
from genkit_core.testing import FactorImages, check_component, fresh_registry

SMALL_MIG = "{type: mig, num_train: 200}"


@pytest.fixture
def run(factor_run: Path, tmp_path: Path) -> Path:
    """A copy of the factor run of its own, whose eval.json each test starts without."""
    copy = tmp_path / "run"
    shutil.copytree(factor_run, copy)
    (copy / "eval.json").unlink(missing_ok=True)
    return copy


def test_eval_metric_prints_and_keeps_the_scores(run: Path, capsys):
    small_dci = "{type: dci, num_train: 100, num_test: 50}"
    assert main(["eval", str(run), "--metric", SMALL_MIG, "--metric", small_dci, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)["metrics"]
    assert set(printed) == {"mig", "dci"}
    assert 0 <= printed["mig"]["scores"]["discrete_mig"] <= 1
    assert printed["dci"]["params"]["num_train"] == 100
    assert printed["dci"]["params"]["seed"] == 0  # every parameter, defaults too
    kept = json.loads((run / "eval.json").read_text())["metrics"]
    assert kept == printed
    assert kept["mig"]["weights"] == {"step": 3, "epoch": 1}


def test_eval_metric_as_text_names_each_score(run: Path, capsys):
    assert main(["eval", str(run), "--metric", SMALL_MIG]) == 0
    out = capsys.readouterr().out
    assert "mig  (seed=0, num_train=200, batch_size=16, num_bins=20)" in out
    assert "    discrete_mig " in out


def test_a_second_call_reads_the_scores_from_eval_json(run: Path, factor_registry):
    Counting = factor_registry.get("metric", "counting").cls
    before = Counting.calls
    first = evaluate_metrics(run, ["counting"])
    assert evaluate_metrics(run, ["counting"]) == first
    assert Counting.calls == before + 1
    evaluate_metrics(run, [{"type": "counting", "seed": 1}])  # other parameters: computed
    assert Counting.calls == before + 2


@pytest.mark.parametrize(
    ("key", "value"),
    [
        pytest.param("weights", {"step": 1, "epoch": 0}, id="trained-since"),
        pytest.param("scores", {"spread": "high"}, id="edited-scores"),
        pytest.param("scores", None, id="no-scores"),
    ],
)
def test_scores_of_older_weights_are_computed_again(run: Path, factor_registry, key, value):
    Counting = factor_registry.get("metric", "counting").cls
    evaluate_metrics(run, ["counting"])
    stored = json.loads((run / "eval.json").read_text())
    stored["metrics"]["counting"][key] = value
    (run / "eval.json").write_text(json.dumps(stored))
    before = Counting.calls
    evaluate_metrics(run, ["counting"])
    assert Counting.calls == before + 1


def test_measuring_the_run_again_keeps_the_scores(run: Path):
    scores = evaluate_metrics(run, [SMALL_MIG])
    report = measure_run(run, iw_samples=5)
    assert report["metrics"] == scores
    assert measure_run(run, iw_samples=7)["metrics"] == scores  # another K: measured again
    assert score_columns(report) == {"mig.discrete_mig": scores["mig"]["scores"]["discrete_mig"]}


def test_a_metric_that_needs_factors_on_data_without_them_is_one_line(
    trained_runs, factor_registry, capsys
):
    assert main(["eval", str(trained_runs["vae"]), "--metric", "mig"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "genkit: error: metric 'mig' needs the data's true factors, and data 'digits' has none "
        "(it is not a GroundTruthData); evaluate it on a run trained on data with factors, e.g. "
        "data: {type: dsprites}\n"
    )
    with pytest.raises(DataError, match="metric 'mig' needs the data's true factors"):
        evaluate_metrics(trained_runs["vae"], ["mig"], cache=False)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param("mgi", r"metric: unknown metric 'mgi'; did you mean 'mig'\?", id="unknown"),
        pytest.param("{type: mig, num_bins: 1}", r"metric.num_bins: Input should be greater",
                     id="bad-value"),
        pytest.param("{type: mig, bins: 3}", r"metric.bins: mig takes no 'bins'; it takes seed, "
                     "num_train, batch_size, num_bins", id="unknown-field"),
        pytest.param("{type: mig", r"metric: cannot read '\{type: mig' as a mapping",
                     id="torn-yaml"),
        pytest.param("{type: 3}", r"expected a metric.s name or a mapping", id="type-not-a-name"),
        pytest.param("{type: mig, a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1], b: &b [*a, *a, *a, *a, "
                     "*a, *a, *a, *a, *a, *a], c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b], "
                     "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c], e: [*d, *d, *d, *d, *d, *d, "
                     "*d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d, *d]}",
                     r"its aliases \(\*name\) expand to more than", id="alias-bomb"),
    ],
)  # fmt: skip
def test_a_wrong_metric_spec_is_a_spec_error_naming_the_field(factor_registry, spec, message):
    with pytest.raises(SpecError, match=message):
        metric_spec(spec)


def test_a_metric_named_twice_is_refused(run: Path):
    with pytest.raises(SpecError, match="mig is named twice"):
        evaluate_metrics(run, ["mig", SMALL_MIG])


def test_compare_shows_a_metric_score_as_a_column(run: Path, capsys):
    assert main(["compare", str(run), "--no-page", "--metric", SMALL_MIG, "--csv", "-"]) == 0
    header = capsys.readouterr().out.splitlines()[0].split(",")
    assert "mig.discrete_mig_mean" in header
    # kept in eval.json: a later compare shows it without --metric
    assert main(["compare", str(run), "--no-page", "--csv", "-"]) == 0
    assert "mig.discrete_mig_mean" in capsys.readouterr().out.splitlines()[0]
    assert main(["compare", str(run), "--no-page", "--sort=-mig.discrete_mig"]) == 0
    text = capsys.readouterr().out
    assert "mig.discrete_mig" in text.splitlines()[0]
    # the descending sort as typed with a space: argparse alone would take -mig... for an option
    assert main(["compare", str(run), "--no-page", "--sort", "-mig.discrete_mig"]) == 0
    assert capsys.readouterr().out == text
    assert "<metric>.<score> columns are a metric's scores (genkit eval --metric)" in text


def _docs_example() -> str:
    """The metric plugin of docs/plugins.md ("A metric"), as written there."""
    page = (Path(__file__).parents[2] / "docs" / "plugins.md").read_text()
    section = page.split("\n## A metric\n", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_a_third_party_metric_registers_through_the_entry_point(run: Path, tmp_path, monkeypatch):
    site = tmp_path / "site"
    info = site / "genkit_code_correlation-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: genkit-code-correlation\nVersion: 0.1\n"
    )
    (info / "entry_points.txt").write_text("[genkit]\ncode_correlation = genkit_code_correlation\n")
    (site / "genkit_code_correlation.py").write_text(_docs_example())
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "genkit_code_correlation", raising=False)  # gone after
    registry = Registry()
    registry.load_entry_points()  # genkit's built-ins and the new package, as `genkit` does
    component = registry.get("metric", "code_correlation")
    assert component.package == "genkit-code-correlation 0.1"
    assert registry.problems == []
    check_component(component.cls, {"examples": 20})
    registry.add(Component("factor_images", FactorImages), plugin="tests")
    found = evaluate_metrics(run, ["code_correlation"], registry=registry)
    assert 0 <= found["code_correlation"]["scores"]["mean_abs"] <= 1
    assert found["code_correlation"]["params"] == {
        "seed": 0,
        "examples": 1000,
        "type": "code_correlation",
    }


class _Broken(Metric):
    """Returns what its ``answer`` parameter names, or fails."""

    class Params(MetricParams):
        answer: str = "text"

    def __call__(self, model, data, random_state):
        answers = {"text": {"score": "high"}, "list": [0.5], "fails": None, "fine": {"score": 1},
                   "nan": {"score": float("nan")}}  # fmt: skip
        if self.params.answer == "fails":
            raise ZeroDivisionError("division by zero")
        return answers[self.params.answer]


@pytest.fixture
def broken_registry() -> Registry:
    registry = fresh_registry()
    registry.add(Component("factor_images", FactorImages), plugin="tests")
    registry.add(Component("broken", _Broken), plugin="their_plugin")
    return registry


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        pytest.param("text", r"metric 'broken' from plugin 'their_plugin' returned \{'score': "
                     "'high'\\}; a metric returns a dict of score names and numbers", id="text"),
        pytest.param("list", r"returned \[0.5\]; a metric returns a dict", id="list"),
        pytest.param("fails", r"metric 'broken' from plugin 'their_plugin' failed: "
                     "ZeroDivisionError: division by zero", id="raises"),
    ],
)  # fmt: skip
def test_a_metric_that_fails_or_returns_no_numbers_is_a_plugin_error_naming_it(
    run: Path, broken_registry, answer, message
):
    with pytest.raises(PluginError, match=message):
        evaluate_metrics(run, [{"type": "broken", "answer": answer}], registry=broken_registry)


def test_a_failing_metric_leaves_the_scores_computed_before_it_kept(run: Path, broken_registry):
    specs = [{"type": "broken", "answer": "fine"}, SMALL_MIG, {"type": "broken", "answer": "x"}]
    with pytest.raises(SpecError, match="broken is named twice"):
        evaluate_metrics(run, specs, registry=broken_registry)
    with pytest.raises(PluginError):
        evaluate_metrics(run, [SMALL_MIG, {"type": "broken", "answer": "fails"}],
                         registry=broken_registry)  # fmt: skip
    kept = json.loads((run / "eval.json").read_text())["metrics"]
    assert list(kept) == ["mig"]


def test_a_metric_from_a_module_the_run_names_in_plugins_is_found(run: Path, monkeypatch):
    """A sweep's worker resuming a trial computes its metric before anything else has loaded
    the run's spec, which imports the module."""
    module = run.parent / "spec_metric_plugin.py"
    module.write_text(_docs_example())
    monkeypatch.syspath_prepend(str(run.parent))
    monkeypatch.delitem(sys.modules, "spec_metric_plugin", raising=False)
    spec = (run / "spec.yaml").read_text()
    (run / "spec.yaml").write_text(spec.replace("plugins: []", "plugins: [spec_metric_plugin]"))
    registry = fresh_registry()
    registry.add(Component("factor_images", FactorImages), plugin="tests")
    found = evaluate_metrics(run, ["{type: code_correlation, examples: 20}"], registry=registry)
    assert set(found) == {"code_correlation"}


def test_a_score_that_is_not_finite_is_refused_saying_what_may_fix_it(run: Path, broken_registry):
    with pytest.raises(RunError, match=r"metric 'broken' gave score = nan: with too few draws"):
        evaluate_metrics(run, [{"type": "broken", "answer": "nan"}], registry=broken_registry)
    assert not (run / "eval.json").exists()


def test_eval_of_a_run_with_a_foreign_record_gives_the_bounds_without_the_loss(run: Path, capsys):
    (run / "history.jsonl").write_text("not a record\n")
    assert main(["eval", str(run), "--iw-samples", "0"]) == 0
    out = capsys.readouterr().out
    assert "negative ELBO" in out and "training loss" not in out
