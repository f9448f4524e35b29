"""Bad specs, generated: every mutation of a valid spec is a SpecError naming a field, or builds.

Hypothesis mutates the examples' specs and two conv specs (a vae and a cvae) with the mistakes
people make: wrong types, unknown keys, deleted sections, negative and zero sizes, strings for
numbers, huge values, wrong nesting, a spec that is not a mapping, random bytes, an empty file.
Each case ends in a :class:`SpecError` that names a field (or the file), or in a valid spec
whose model builds on the meta device; never another exception, an allocation or a hang.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from genkit_core import SpecError, build_model, load_spec
from genkit_core.cli import main
from genkit_core.spec import SpecValidationError

_EXAMPLES = Path(__file__).parents[3] / "examples"
SEEDS: list[dict[str, Any]] = [
    *(yaml.safe_load((_EXAMPLES / f"{kind}.yaml").read_text()) for kind in ("ae", "vae", "cvae")),
    {
        "model": "vae",
        "latent_dim": 8,
        "data": {"type": "digits", "binarize": "static"},
        "encoder": {"type": "conv", "channels": [16, 32], "hidden": 64},
        "decoder": {"type": "conv", "channels": [32, 16], "hidden": 64},
        "likelihood": {"type": "bernoulli"},
        "divergence": {"type": "gaussian_kl", "beta": 2.0, "free_bits": 0.1},
        "train": {"epochs": 5, "schedule": {"type": "cosine"}, "clip_grad_norm": 5.0},
    },
    {
        "model": "cvae",
        "latent_dim": 2,
        "data": {"type": "digits", "max_train": 500},
        "encoder": {"type": "conv", "channels": [8]},
        "decoder": {"type": "conv", "channels": [8], "activation": "gelu"},
        "conditioner": {"type": "label_concat"},
        "train": {"optimizer": {"type": "adamw", "weight_decay": 0.01}, "on_nonfinite": "skip"},
    },
]

_HUGE = [10**12, 1e12, 2**63, -(10**12), 1e308, float("inf"), float("nan")]
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from(_HUGE),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["1e12", "64", "-1", "mlp", "conv", "vae", "cuda", "nan", "type"]),
)
_BIG = [65_536, [65_536] * 64, [8192] * 12, [4096] * 3, [65_536, 65_536]]
"""Sizes each field allows, of models too big to allocate: refused by the meta build."""
_VALUES = st.one_of(
    _SCALARS,
    st.sampled_from(_BIG),
    st.lists(_SCALARS, max_size=4),
    st.dictionaries(st.sampled_from(["type", "hidden", "x", "beta"]), _SCALARS, max_size=3),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside nested dicts and lists (the root excluded)."""
    children = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    found = []
    for key, child in children:
        found.append((*prefix, key))
        found.extend(_paths(child, (*prefix, key)))
    return found


@st.composite
def mutated_specs(draw: st.DrawFn) -> Any:
    """A seed spec with one to three mistakes made in it."""
    spec: Any = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(spec)
        path = draw(st.sampled_from(paths)) if paths else ()
        parent: Any = spec
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1] if path else None
        op = draw(
            st.sampled_from(
                ["replace", "delete", "unknown", "wrap", "unwrap", "stringify", "negate", "widen"]
            )
        )
        if op == "widen":  # within every field's bounds, yet too big to allocate
            section = spec.get(draw(st.sampled_from(["encoder", "decoder"])))
            if isinstance(section, dict):
                section[draw(st.sampled_from(["hidden", "channels"]))] = copy.deepcopy(
                    draw(st.sampled_from(_BIG))
                )
        elif key is None:
            continue
        elif op == "replace":
            parent[key] = copy.deepcopy(draw(_VALUES))
        elif op == "delete":
            del parent[key]
        elif op == "unknown":
            target = parent[key] if isinstance(parent[key], dict) else parent
            if isinstance(target, dict):
                target[draw(st.sampled_from(["hiden", "lr", "typ", "extra", "epochs"]))] = 1
        elif op == "wrap":  # wrong nesting: a value one level too deep
            parent[key] = draw(st.sampled_from([[parent[key]], {"value": parent[key]}]))
        elif op == "unwrap" and isinstance(parent[key], dict | list) and parent[key]:
            inner = parent[key]
            parent[key] = next(iter(inner.values())) if isinstance(inner, dict) else inner[0]
        elif op == "stringify":
            parent[key] = str(parent[key])
        elif op == "negate" and isinstance(parent[key], int | float) and parent[key] is not True:
            parent[key] = draw(st.sampled_from([-parent[key], 0, parent[key] * 10**9]))
    return spec


def _check(source: Any) -> None:
    """The one acceptable pair of outcomes: a SpecError naming a field or file, or a build."""
    try:
        spec = load_spec(source)
        model = build_model(spec, device="meta")
    except SpecError as exc:
        _assert_names_a_field(exc)
        return
    assert all(p.device.type == "meta" for p in model.parameters())


def _assert_names_a_field(exc: SpecError) -> None:
    assert "Traceback" not in str(exc) and "\n" not in str(exc), str(exc)
    if isinstance(exc, SpecValidationError):
        assert exc.errors
        for field, message in exc.errors:
            assert message
            assert field or exc.source, f"an error names no field: {message}"
        return
    assert exc.field or exc.source, f"names no field: {exc}"


# The deadline catches a hang, not a busy machine: a case takes milliseconds when alone.
@settings(max_examples=4000, deadline=10_000, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_specs())
def test_a_mutated_spec_is_a_spec_error_naming_a_field_or_builds(spec: Any) -> None:
    _check(spec)


_DOCUMENTS = st.one_of(
    st.just(""),
    st.just("\n\n# only a comment\n"),
    st.binary(max_size=64),
    _VALUES.map(lambda v: yaml.safe_dump(v)),  # YAML that is not a mapping
    mutated_specs().map(lambda s: yaml.safe_dump(s, allow_unicode=True)),
    st.text(max_size=64),
    st.sampled_from(
        [
            "!!python/object/apply:os.system ['echo pwned']",
            "model: !!python/object/apply:os.system ['echo pwned']",
            "model: vae\n  latent_dim: 4",
            "{model: vae",
            "model: [vae",
            "a: &a [*a]",
            "[" * 2000,
        ]
    ),
)


@settings(
    max_examples=1000,
    deadline=10_000,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(document=_DOCUMENTS, suffix=st.sampled_from([".yaml", ".json", ".toml"]))
def test_any_file_is_a_spec_error_naming_the_file_or_a_field_or_builds(
    tmp_path: Path, document: str | bytes, suffix: str
) -> None:
    path = tmp_path / f"spec{suffix}"
    path.write_bytes(document if isinstance(document, bytes) else document.encode())
    _check(path)


def test_python_object_tags_are_refused_without_running_them(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "evil.yaml"
    path.write_text(f"model: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(SpecError, match=r"evil\.yaml: not valid YAML .*python/object"):
        load_spec(path)
    assert not marker.exists()


def test_huge_sizes_are_refused_naming_the_section_before_allocating(spec_dict) -> None:
    wide = {"type": "mlp", "hidden": [65_536] * 64}
    with pytest.raises(SpecError, match=r"encoder: the model would have [\d,]+ parameters") as info:
        build_model(spec_dict(encoder=wide), device="cpu")
    assert info.value.field == "encoder"


_CLI_CASES = [
    pytest.param("latent_dim: 0\n", "latent_dim", id="latent-dim-0"),
    pytest.param(b"\x00\xff\xfe garbage", "not a text file", id="random-bytes"),
    pytest.param("", "the spec is empty", id="empty"),
    pytest.param("- model\n- vae\n", "a spec must be a mapping", id="a-list"),
    pytest.param("!!python/object/apply:os.system ['true']", "not valid YAML", id="python-tag"),
]


def _vae_with(**changes: Any) -> str:
    spec = copy.deepcopy(SEEDS[1])
    spec.update(changes)
    return yaml.safe_dump(spec)


_CLI_CASES += [
    pytest.param(_vae_with(latent_dim="four"), "latent_dim", id="string-for-number"),
    pytest.param(_vae_with(encoder={"type": "mlp", "hiden": [4]}), "hidden", id="unknown-key"),
    pytest.param(_vae_with(encoder={"type": "ml\np"}), r"unknown encoder 'ml\np'", id="newline"),
    pytest.param(_vae_with(encoder={"type": "mlp", "hidden": [65_536] * 64}), "GiB", id="huge"),
    pytest.param(
        _vae_with(encoder={"type": "conv"}, data={"type": "digits", "flatten": True}),
        "encoder.type: conv needs image data",
        id="conv-on-flat-data",
    ),
]


@pytest.mark.parametrize(("document", "message"), _CLI_CASES)
def test_the_cli_prints_one_line_and_exits_1(tmp_path: Path, capsys, document, message) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(document if isinstance(document, bytes) else document.encode())
    assert main(["train", str(path), "-o", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("genkit: error: ") and message in err, err
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
@pytest.mark.parametrize(("document", "message"), _CLI_CASES[:2] + _CLI_CASES[-2:])
def test_the_command_prints_no_traceback(tmp_path: Path, document, message) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(document if isinstance(document, bytes) else document.encode())
    result = subprocess.run(
        [sys.executable, "-m", "genkit_core", "train", str(path), "-o", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("plugins", "field", "message"),
    [
        pytest.param(["no_such_module_xyz"], "plugins.0", "no_such_module_xyz", id="missing"),
        pytest.param("genkit_plugins", "plugins", "must be a list of module names", id="a-string"),
    ],
)
def test_plugins_is_the_one_place_a_spec_loads_code(spec_dict, plugins, field, message) -> None:
    with pytest.raises(SpecError, match=message) as info:
        load_spec(spec_dict(plugins=plugins))
    assert info.value.field == field
