"""Reading and validating specs: formats, defaults, error messages with field paths."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from genkit_core import SpecError, build_model, load_spec, spec_model
from genkit_core.interfaces import COMPONENT_KINDS
from genkit_core.spec import SpecValidationError, dump_spec, resolve


def _errors(spec: object) -> list[tuple[str, str]]:
    with pytest.raises(SpecValidationError) as info:
        load_spec(spec)  # type: ignore[arg-type]
    return info.value.errors


def test_yaml_json_and_toml_give_the_same_spec(tmp_path: Path, spec_dict):
    data = spec_dict()
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(data))
    (tmp_path / "s.json").write_text(json.dumps(data))
    (tmp_path / "s.toml").write_text(
        'model = "vae"\nlatent_dim = 4\n'
        '[data]\ntype = "digits"\nmax_train = 256\nmax_test = 64\n'
        '[encoder]\ntype = "mlp"\nhidden = [32]\n[decoder]\ntype = "mlp"\nhidden = [32]\n'
        '[likelihood]\ntype = "bernoulli"\n'
        '[train]\nepochs = 1\nbatch_size = 32\nseed = 0\ndevice = "cpu"\nprogress = false\n'
    )
    specs = [load_spec(tmp_path / name) for name in ("s.yaml", "s.json", "s.toml")]
    assert specs[0] == specs[1] == specs[2]


def test_defaults_are_filled_in_and_the_resolved_spec_round_trips(spec_dict):
    spec = load_spec(spec_dict(likelihood=None))
    assert spec.prior.type == "standard_normal"
    assert spec.divergence.type == "gaussian_kl"
    assert spec.likelihood.type == "mse"
    assert spec.likelihood.weight == 1.0
    assert spec.train.optimizer.type == "adam"
    assert [logger.type for logger in spec.logging] == ["csv"]
    resolved = resolve(spec)
    assert resolved["encoder"] == {"type": "mlp", "hidden": [32], "activation": "relu"}
    assert load_spec(yaml.safe_load(dump_spec(resolved))) == spec


def test_cvae_gets_the_label_concat_conditioner_by_default(spec_dict):
    assert load_spec(spec_dict(model="cvae")).conditioner.type == "label_concat"


def test_changing_one_line_swaps_a_term(spec_dict):
    mse = build_model(spec_dict(likelihood={"type": "mse", "weight": 0.5}), device="meta")
    bernoulli = build_model(spec_dict(), device="meta")
    assert type(mse.likelihood).__name__ == "MSE"
    assert type(bernoulli.likelihood).__name__ == "Bernoulli"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        pytest.param({"latent_dim": 0}, "latent_dim", "greater than 0", id="latent-zero"),
        pytest.param({"latent_dim": "four"}, "latent_dim", "valid integer", id="latent-string"),
        pytest.param({"model": "gan"}, "model", "'ae', 'vae' or 'cvae'", id="unknown-model"),
        pytest.param(
            {"encoder": {"type": "mpl"}}, "encoder", "did you mean 'mlp'", id="unknown-encoder"
        ),
        pytest.param({"encoder": {"hidden": [3]}}, "encoder", "missing 'type'", id="missing-type"),
        pytest.param(
            {"encoder": "mlp"}, "encoder", "must be a mapping like {type: conv}", id="not-a-mapping"
        ),
        pytest.param(
            {"encoder": {"type": "mlp", "hidden": [-3]}},
            "encoder.hidden.0",
            "greater than 0",
            id="negative-width",
        ),
        pytest.param(
            {"decoder": {"type": "mlp", "hiden": [3]}},
            "decoder.hiden",
            "did you mean 'hidden'",
            id="typo-in-section",
        ),
        pytest.param({"epochs": 3}, "epochs", "unknown field 'epochs'", id="unknown-top-level"),
        pytest.param(
            {"train": {"epoch": 3}}, "train.epoch", "did you mean 'epochs'", id="typo-in-train"
        ),
        pytest.param(
            {"train": {"optimizer": {"type": "adagrad"}}},
            "train.optimizer.type",
            "'adam'",
            id="unknown-optimizer",
        ),
        pytest.param(
            {"train": {"device": "tpu"}}, "train.device", "should match pattern", id="bad-device"
        ),
        pytest.param(
            {"logging": [{"type": "cvs"}]}, "logging.0", "did you mean 'csv'", id="unknown-logger"
        ),
        pytest.param(
            {"objective": {"type": "iwae", "samples": 0}},
            "objective.samples",
            "greater than 0",
            id="no-samples",
        ),
        pytest.param(
            {"model": "ae", "conditioner": {"type": "label_concat"}},
            "conditioner",
            "only a cvae has a conditioner; remove it or set model: cvae (this is an ae)",
            id="ae-with-conditioner",
        ),
        pytest.param(
            {"conditioner": {"type": "label_concat"}},
            "conditioner",
            "only a cvae has a conditioner",
            id="vae-with-conditioner",
        ),
        pytest.param({"prior": None, "model": "vae"}, None, None, id="vae-default-prior"),
    ],
)
def test_invalid_specs_name_the_field(spec_dict, changes, field, message):
    data = spec_dict(**changes)
    if field is None:
        load_spec(data)
        return
    errors = _errors(data)
    assert any(f == field and message in m for f, m in errors), errors


def test_missing_sections_are_each_reported():
    errors = dict(_errors({"model": "vae"}))
    assert set(errors) == {"latent_dim", "data", "encoder", "decoder"}
    assert errors["encoder"] == "required, but missing"


def test_several_problems_are_reported_together(spec_dict):
    with pytest.raises(SpecError, match=r"2 problems: latent_dim: .*; encoder: unknown encoder"):
        load_spec(spec_dict(latent_dim=-1, encoder={"type": "nope"}))


def test_conv_on_flat_data_fails_naming_the_encoder(spec_dict):
    data = spec_dict(data={"type": "digits", "flatten": True}, encoder={"type": "conv"})
    with pytest.raises(
        SpecError, match=r"^encoder\.type: conv needs image data of shape \(C, H, W\)"
    ):
        build_model(data, device="meta")


def _two_modes(registry):
    import torch
    from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal

    from genkit_core import Component
    from genkit_plugins.priors.standard_normal import StandardNormal

    class TwoModes(StandardNormal):
        """A mixture of two Gaussians (no closed-form KL against a Gaussian)."""

        def distribution(self):
            locs = torch.stack([self.loc - 1, self.loc + 1])
            modes = Independent(Normal(locs, self.scale.expand_as(locs)), 1)
            return MixtureSameFamily(Categorical(logits=self.loc.new_zeros(2)), modes)

    registry.add(Component("two_modes", TwoModes))


def test_any_prior_works_with_the_default_divergence_and_the_spec_says_how(
    spec_dict, builtins_registry
):
    _two_modes(builtins_registry)
    model = build_model(spec_dict(prior={"type": "two_modes"}), registry=builtins_registry)
    assert model.spec.divergence.estimator == "monte_carlo"
    standard = build_model(spec_dict(), registry=builtins_registry)
    assert standard.spec.divergence.estimator == "analytic"


def test_an_analytic_kl_that_does_not_exist_names_the_pair(spec_dict, builtins_registry):
    _two_modes(builtins_registry)
    data = spec_dict(prior={"type": "two_modes"}, divergence={"type": "gaussian_kl",
                     "estimator": "analytic"})  # fmt: skip
    pattern = (
        r"divergence\.type: the divergence 'gaussian_kl' cannot compare this posterior and the "
        r"prior 'two_modes' \(KL\(Independent\(Normal\) \|\| MixtureSameFamily.*\); use "
        r"estimator: auto"
    )
    with pytest.raises(SpecError, match=pattern):
        build_model(data, registry=builtins_registry, device="meta")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"prior": {"type": "standard_normal"}},
                     r"prior.type: the 'standard_normal' prior takes no part in an autoencoder",
                     id="ae-with-an-unused-prior"),
        pytest.param({"divergence": {"type": "gaussian_kl"}},
                     r"divergence.type: the 'gaussian_kl' divergence is a KL, and the 'delta' "
                     r"posterior is a point mass", id="ae-with-a-kl"),
        pytest.param({"prior": {"type": "code_gaussian"}, "divergence": {"type": "mmd"}},
                     r"prior.type: the 'code_gaussian' prior is fitted to the codes after",
                     id="divergence-to-a-fitted-prior"),
    ],
)  # fmt: skip
def test_components_that_do_not_fit_together_are_named(spec_dict, changes, message):
    with pytest.raises(SpecError, match=message):
        build_model(spec_dict(model="ae", **changes), device="meta")


def test_overrides_set_nested_fields(spec_dict):
    spec = load_spec(spec_dict(), ["train.epochs=7", "encoder.hidden=[8, 4]", "train.lr=1e-2"])
    assert spec.train.epochs == 7
    assert spec.encoder.hidden == [8, 4]
    assert spec.train.lr == pytest.approx(0.01)


def test_an_override_into_a_value_is_an_error(spec_dict):
    with pytest.raises(SpecError, match=r"--set latent_dim.x=1: 'latent_dim' is not a section"):
        load_spec(spec_dict(), ["latent_dim.x=1"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param("", "the spec is empty", id="empty"),
        pytest.param("- 1\n- 2\n", "must be a mapping of fields", id="a-list"),
        pytest.param("model: [vae\n", "not valid YAML at line", id="broken-yaml"),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00", "not a text file", id="binary"),
    ],
)
def test_unreadable_files_are_clear_errors(tmp_path: Path, content: str | bytes, message: str):
    path = tmp_path / "spec.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(SpecError, match=message):
        load_spec(path)


def test_a_missing_file_is_named(tmp_path: Path):
    with pytest.raises(SpecError, match=r"nope\.yaml: cannot read the spec: no such file"):
        load_spec(tmp_path / "nope.yaml")


def test_the_schema_lists_every_registered_component_of_a_spec_section(builtins_registry):
    """Every kind a spec names (a metric is named by genkit eval, not in a spec)."""
    schema = json.dumps(spec_model(builtins_registry).model_json_schema())
    for component in builtins_registry.components():
        if COMPONENT_KINDS[component.kind].section is None:
            continue
        assert f'"const": "{component.name}"' in schema or f'"enum": ["{component.name}"]' in schema


def _alias_bomb(levels: int = 9, width: int = 9) -> str:
    """YAML of about 500 bytes whose aliases expand to ``width ** levels`` values."""
    lines = [f"a0: &a0 [{', '.join(['x'] * width)}]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines) + f"\nmodel: vae\nlatent_dim: *a{levels - 1}\n"


def test_an_alias_bomb_is_refused_before_it_is_built(tmp_path: Path):
    path = tmp_path / "bomb.yaml"
    path.write_text(_alias_bomb())
    assert path.stat().st_size < 1024
    with pytest.raises(SpecError, match=r"bomb\.yaml: .*expand to more than .*alias bomb"):
        load_spec(path)


def test_a_few_aliases_that_reuse_a_section_are_fine(tmp_path: Path, spec_dict):
    net = {k: v for k, v in spec_dict().items() if k != "decoder"}
    text = yaml.safe_dump(net, sort_keys=False).replace("encoder:", "encoder: &net", 1)
    path = tmp_path / "s.yaml"
    path.write_text(text + "decoder: *net\n")
    assert load_spec(path).decoder.hidden == load_spec(path).encoder.hidden


def test_an_error_shows_a_bounded_part_of_a_huge_value():
    huge: object = list(range(10))
    for _ in range(8):  # shared, as YAML aliases are: 1e9 numbers in a few hundred lists
        huge = [huge] * 10
    message = str(_errors({"model": "vae", "latent_dim": huge}))
    assert "latent_dim" in message and "..." in message and len(message) < 2000


def test_genkit_validate_refuses_a_sweep_file_alias_bomb_in_one_line(tmp_path: Path, capsys):
    from genkit_core.cli import main

    path = tmp_path / "sweep.yaml"
    bomb = _alias_bomb().replace("model: vae\nlatent_dim:", "name: s\nbase: {model: vae}\ngrid:")
    path.write_text(bomb.replace("grid: *a8", "grid: {train.seed: *a8}"))
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sweep.yaml" in err and "alias bomb" in err
