"""The sweep file: validated as strictly as a spec, every error naming its field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from genkit_core.cli import main
from genkit_core.spec import SpecValidationError, load_spec
from genkit_core.sweep import load_sweep
from genkit_core.sweep.naming import safe_name, value_labels

from .conftest import BASE

GRID = {"likelihood": [{"type": "bernoulli"}, {"type": "gaussian"}], "divergence.beta": [1.0, 4],
        "train.seed": [0, 1, 2]}  # fmt: skip


def _errors(data: dict, tmp_path: Path) -> list[tuple[str, str]]:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(SpecValidationError) as info:
        load_sweep(path)
    return info.value.errors


def test_a_grid_makes_every_combination_with_readable_unique_names():
    sweep = load_sweep({"base": BASE, "grid": GRID})
    cells = sweep.cells()
    assert len(cells) == 12
    names = [sweep.trial_name(c) for c in cells]
    assert len(set(names)) == 12
    assert "likelihood=gaussian,divergence.beta=4,seed=2" in names
    spec = load_spec(sweep.spec(cells[-1]))  # a swap into a section left to its default
    assert (spec.likelihood.type, spec.divergence.beta, spec.train.seed) == ("gaussian", 4.0, 2)
    assert spec.divergence.type == "gaussian_kl" and spec.name == names[-1]
    assert spec.encoder == load_spec(BASE).encoder


def test_a_base_file_is_read_relative_to_the_sweep_file(tmp_path: Path):
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "base.yaml").write_text(yaml.safe_dump(BASE))
    path = tmp_path / "specs" / "terms.yaml"
    path.write_text(yaml.safe_dump({"base": "base.yaml", "grid": {"train.seed": [0, 1]}}))
    sweep = load_sweep(path)
    assert sweep.name == "terms" and sweep.base == BASE


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        pytest.param({"gird": {}}, "gird", "unknown field 'gird'; allowed: name, base", id="top"),
        pytest.param({"grid": {}}, "", "nothing to sweep", id="empty"),
        pytest.param({"grid": {"train.sed": [0, 1]}}, "grid.train.sed",
                     "unknown field 'sed'; did you mean 'seed'?", id="key"),
        pytest.param({"grid": {"trian.seed": [0]}}, "grid.trian.seed", "is not a spec key",
                     id="section"),
        pytest.param({"grid": {"likelihood": [{"type": "bernouli"}]}}, "grid.likelihood.0",
                     "unknown likelihood 'bernouli'; did you mean 'bernoulli'?", id="value"),
        pytest.param({"grid": {"encoder.hidden": [[16], [0]]}}, "grid.encoder.hidden.1.0",
                     "greater than 0", id="nested"),
        pytest.param({"grid": {"train.seed": [0, 0]}}, "grid.train.seed.1",
                     "the same spec as value 0", id="repeat"),
        pytest.param({"grid": {"train.seed": []}}, "grid.train.seed", "at least 1 item",
                     id="no-values"),
        pytest.param({"grid": {"name": ["a"]}}, "grid.name", "set to each trial's name",
                     id="name"),
        pytest.param({"search": {"trials": 2, "trails": 3, "train.lr": {"uniform": [0.1, 1]}}},
                     "search.trails", "did you mean 'trials'?", id="search-field"),
        pytest.param({"search": {"trials": 2, "train.lr": {"log_unifrm": [1e-4, 1e-2]}}},
                     "search.train.lr", "must be one distribution", id="distribution"),
        pytest.param({"search": {"trials": 2, "train.lr": {"log_uniform": [0.1, 1e-3]}}},
                     "search.train.lr", "low <= high", id="bounds"),
        pytest.param({"search": {"trials": 2, "train.lr": {"log_uniform": [1e-4, 20]}}},
                     "search.train.lr", "less than or equal to 10", id="range-vs-spec"),
        pytest.param({"search": {"trials": 2}}, "search", "names no parameter", id="no-param"),
        pytest.param({"grid": {"train.seed": [0]}, "search": {"trials": 1, "train.seed":
                     {"int": [0, 3]}}}, "", "train.seed is in both grid and search", id="both"),
        pytest.param({"grid": {"prior": [{"type": "code_gaussian"}]}}, "grid",
                     "is fitted to the codes after training, so no divergence can train",
                     id="combination"),
        pytest.param({"base": {**BASE, "prior": {"type": "standard_normal"}}, "grid":
                     {"model": ["vae", "ae"]}}, "grid",
                     "prior takes no part in an autoencoder's loss", id="ae-with-prior"),
        pytest.param({"base": "missing.yaml", "grid": {"train.seed": [0]}}, "base",
                     "no spec file", id="base-file"),
        pytest.param({"base": {**BASE, "latent_dim": 0}, "grid": {"train.seed": [0]}},
                     "base.latent_dim", "greater than 0", id="base-field"),
    ],
)  # fmt: skip
def test_each_mistake_names_its_field(tmp_path: Path, change, field, message):
    errors = _errors({"base": BASE, **change}, tmp_path)
    assert any(f == field and message in m for f, m in errors), errors


def test_a_metric_that_needs_a_vae_is_refused_for_an_ae(tmp_path: Path):
    base = {k: v for k, v in BASE.items() if k not in ("prior", "divergence")}
    search = {"trials": 1, "metric": "negative_elbo", "train.lr": {"uniform": [0.001, 0.01]}}
    errors = _errors({"base": {**base, "model": "ae"}, "search": search}, tmp_path)
    assert ("search.metric", "negative_elbo needs a model with an ELBO (a stochastic posterior "
            "and a prior trained with it, as a vae's); use test_loss for this ae "
            "(trial lr=0.001)") in errors  # fmt: skip


def test_a_metric_that_needs_an_elbo_is_refused_for_a_vae_without_one(tmp_path: Path):
    """Asked of the model, not its kind: a vae with a point-mass posterior has no ELBO, and
    each of its trials failed after training ('no negative_elbo was measured')."""
    base = {**BASE, "model": "vae", "posterior": {"type": "delta"}, "divergence": {"type": "mmd"}}
    search = {"trials": 1, "metric": "negative_elbo", "train.lr": {"uniform": [0.001, 0.01]}}
    errors = _errors({"base": base, "search": search}, tmp_path)
    assert any(f == "search.metric" and "use test_loss for this vae" in m for f, m in errors)


def test_genkit_validate_accepts_a_sweep_and_lists_each_error(tmp_path: Path, capsys):
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump({"base": BASE, "grid": GRID}))
    assert main(["validate", str(good)]) == 0
    assert (
        capsys.readouterr().out.strip() == f"{good}: ok (sweep good: 12 trials of a vae on digits)"
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"base": BASE, "grid": {"train.sed": [0], "likelihood": [{}]}}))
    assert main(["validate", str(bad)]) == 1
    lines = sorted(capsys.readouterr().err.splitlines())
    assert len(lines) == 2
    assert lines[0].startswith(f"{bad}: grid.likelihood.0: missing 'type'")
    assert lines[1].startswith(f"{bad}: grid.train.sed: unknown field 'sed'; did you mean 'seed'?")


def test_genkit_schema_sweep_describes_sweep_files_with_specs_inside(capsys):
    assert main(["schema", "sweep"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert set(schema["properties"]) == {"name", "base", "grid", "search", "iw_samples"}
    assert schema["properties"]["base"]["anyOf"][1] == {"$ref": "#/$defs/ModelSpec"}
    spec = schema["$defs"]["ModelSpec"]
    assert "encoder" in spec["properties"] and "search" not in spec["properties"]
    search = schema["$defs"]["SearchSection"]["properties"]
    assert set(search) == {"trials", "metric", "direction", "seed", "pruner"}
    assert search["pruner"]["oneOf"][0] == {"enum": ["none", "median", "hyperband"]}  # by name


@pytest.mark.parametrize(
    ("values", "labels"),
    [
        pytest.param([{"type": "mse"}, {"type": "bernoulli"}], ["mse", "bernoulli"], id="types"),
        pytest.param([{"type": "gaussian"}, {"type": "gaussian", "variance": "decoder"}],
                     ["gaussian", "gaussian+variance=decoder"], id="same-type"),
        pytest.param([[512, 256], [64]], ["512x256", "64"], id="lists"),
        pytest.param([0.001, 1e-4, True, None], ["0.001", "0.0001", "true", "null"], id="scalars"),
        pytest.param(["a/b", "a_b"], ["a_b-0", "a_b-1"], id="clash"),
    ],
)  # fmt: skip
def test_values_get_distinct_file_safe_labels(values, labels):
    assert value_labels(values) == labels


def test_safe_names_are_short_and_keep_their_start():
    name = safe_name("x" * 300)
    assert len(name) == 200 and name.startswith("x" * 150)
    assert safe_name("../a b") == "_a_b" and safe_name("") == "_"


# --- a metric component's score as the search metric -----------------------------------------

SEARCH = {"trials": 1, "train.lr": {"uniform": [0.001, 0.01]}}


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        pytest.param("mgi.discrete_mig", "unknown metric 'mgi'; did you mean 'mig'?", id="metric"),
        pytest.param("mig.discrete", "mig has no score 'discrete'; did you mean "
                     "'mig.discrete_mig'? its scores: mig.discrete_mig", id="score"),
        pytest.param("elbo", "unknown metric 'elbo'; use iw_nll, negative_elbo, test_loss or a "
                     "metric's score as <metric>.<score>, e.g. mig.discrete_mig", id="no-dot"),
    ],
)  # fmt: skip
def test_a_search_metric_names_a_registered_metric_and_its_score(metric, message, tmp_path):
    errors = _errors({"base": BASE, "search": {**SEARCH, "metric": metric}}, tmp_path)
    assert errors[0][0] == "search.metric" and errors[0][1].startswith(message), errors


def test_a_metric_that_needs_factors_is_refused_on_data_without_them(tmp_path: Path):
    errors = _errors({"base": BASE, "search": {**SEARCH, "metric": "mig.discrete_mig"}}, tmp_path)
    why = "mig needs the data's true factors, and data 'digits' has none"
    assert errors == [("search.metric", f"{why}; sweep data with factors, e.g. dsprites "
                       "(trial lr=0.001)")]  # fmt: skip


def test_a_metric_score_is_optimised_in_the_metric_s_direction(factor_registry, factor_spec):
    file = {"base": factor_spec, "search": {**SEARCH, "metric": "mig.discrete_mig"}}
    sweep = load_sweep(file, registry=factor_registry)
    assert (sweep.metric, sweep.direction) == ("mig.discrete_mig", "maximize")
    assert sweep.as_dict()["search"]["direction"] == "maximize"  # DIR/sweep.yaml says it
    file["search"] = {**file["search"], "direction": "minimize"}  # as the user wrote it
    assert load_sweep(file, registry=factor_registry).direction == "minimize"
    assert load_sweep({**file, "search": SEARCH}, registry=factor_registry).direction == "minimize"


def test_a_trial_measures_the_metric_it_is_searched_on(factor_run: Path):
    from genkit_core.sweep.worker import _scores

    scores = _scores(factor_run, "counting.spread")
    assert list(scores) == ["counting.spread"] and scores["counting.spread"] > 0
    assert _scores(factor_run, "negative_elbo") == {}


def test_a_pruner_is_refused_for_a_score_the_search_maximises(factor_registry, factor_spec):
    search = {**SEARCH, "metric": "mig.discrete_mig", "pruner": "median"}
    factor_spec["train"] = {**factor_spec["train"], "epochs": 3}
    with pytest.raises(SpecValidationError) as info:
        load_sweep({"base": factor_spec, "search": search}, registry=factor_registry)
    assert info.value.errors == [("search.pruner", "the median pruner compares test losses, "
                                  "lower is better, and mig.discrete_mig is maximised; set "
                                  "pruner: none")]  # fmt: skip
