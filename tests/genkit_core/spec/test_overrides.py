"""``--set`` values: YAML 1.2 words, list indices, a component by name, errors that name the
command line; and specs read from standard input."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
import yaml

from genkit_core import SpecError, load_spec
from genkit_core.cli import main
from genkit_core.spec import SpecValidationError, apply_overrides


@pytest.mark.parametrize("word", ["off", "on", "yes", "no", "y", "n", "Off", "NO"])
def test_yaml_1_1_booleans_stay_words(word: str):
    assert apply_overrides({}, [f"name={word}"]) == {"name": word}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        pytest.param("true", True, id="true"),
        pytest.param("False", False, id="False"),
        pytest.param("2", 2, id="int"),
        pytest.param("1e-3", "1e-3", id="yaml-float-without-dot-is-text"),
        pytest.param("1.0e-3", 0.001, id="float"),
        pytest.param("[8, 4]", [8, 4], id="list"),
        pytest.param("", None, id="empty-is-null"),
        pytest.param("[unclosed", "[unclosed", id="unparseable-stays-text"),
    ],
)
def test_values_are_read_as_yaml(text: str, value: object):
    assert apply_overrides({}, [f"name={text}"]) == {"name": value}


def test_a_python_tag_in_a_value_is_text_and_runs_nothing(tmp_path: Path):
    marker = tmp_path / "ran"
    value = f"!!python/object/apply:os.system ['touch {marker}']"
    assert apply_overrides({}, [f"name={value}"]) == {"name": value}
    assert not marker.exists()


def test_compile_off_from_the_command_line_and_from_a_file(spec_dict, tmp_path: Path):
    # the original report: YAML 1.1 read `off` as false, which train.compile refused
    assert load_spec(spec_dict(), ["train.compile=off"]).train.compile == "off"
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec_dict()) + "name: no\n")
    path.write_text(path.read_text().replace("progress: false", "progress: off"))
    spec = load_spec(path)
    assert spec.name == "no" and spec.train.progress is False  # a bool field still reads `off`


def test_a_bad_value_names_the_command_line_not_the_file(write_spec, spec_dict):
    path = write_spec(spec_dict())
    with pytest.raises(SpecValidationError) as info:
        load_spec(path, ["train.compile=maybe", "latent_dim=0"])
    error = info.value
    assert error.sources == ["--set latent_dim=0", "--set train.compile=maybe"]
    assert "--set train.compile=maybe: train.compile: Input should be 'auto'" in str(error)


def test_a_file_error_still_names_the_file(write_spec, spec_dict):
    path = write_spec(spec_dict(latent_dim=0))
    with pytest.raises(SpecError, match=rf"^{path}: latent_dim: Input should be greater than 0"):
        load_spec(path, ["train.epochs=2"])


def test_a_list_index_sets_one_item(spec_dict):
    assert load_spec(spec_dict(), ["encoder.hidden.0=16"]).encoder.hidden == [16]
    with pytest.raises(
        SpecError, match=r"^--set encoder.hidden.0=-5: encoder.hidden.0: Input should be greater"
    ):
        load_spec(spec_dict(), ["encoder.hidden.0=-5"])


@pytest.mark.parametrize(
    ("override", "message"),
    [
        pytest.param(
            "encoder.hidden.3=8",
            r"--set encoder.hidden.3=8: 'encoder.hidden' has 1 item \(indices 0 to 0\); set the "
            r"whole list",
            id="past-the-end",
        ),
        pytest.param(
            "encoder.hidden.x=8",
            r"'encoder.hidden' is a list; index it by position, e.g. encoder.hidden.0",
            id="not-a-number",
        ),
        pytest.param(
            "decoder.widths.0=8",
            r"'decoder.widths' is not in the spec to index; set the whole list",
            id="missing-list",
        ),
        pytest.param("noequals", r"--set expects key=value", id="no-equals"),
    ],
)
def test_index_mistakes_are_explained(spec_dict, override: str, message: str):
    with pytest.raises(SpecError, match=message):
        load_spec(spec_dict(), [override])


def test_a_word_for_a_component_section_names_the_component(spec_dict):
    spec = load_spec(spec_dict(), ["likelihood=gaussian"])
    assert spec.likelihood.type == "gaussian"
    assert spec.likelihood == load_spec(spec_dict(likelihood={"type": "gaussian"})).likelihood
    assert load_spec(spec_dict(), ["name=gaussian"]).name == "gaussian"  # not a section


def _stdin(monkeypatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))


def test_validate_reads_a_spec_from_standard_input(monkeypatch, capsys, spec_dict):
    _stdin(monkeypatch, yaml.safe_dump(spec_dict()))
    assert main(["validate", "-"]) == 0
    assert capsys.readouterr().out.startswith("<stdin>: ok (vae")
    _stdin(monkeypatch, yaml.safe_dump(spec_dict(latent_dim=0)))
    assert main(["validate", "-"]) == 1
    assert capsys.readouterr().err.startswith("<stdin>: latent_dim: Input should be greater")


@pytest.mark.slow
def test_train_reads_a_spec_from_standard_input(monkeypatch, capsys, spec_dict, tmp_path: Path):
    monkeypatch.chdir(tmp_path)
    _stdin(monkeypatch, yaml.safe_dump(spec_dict()))
    assert main(["train", "-", "-q"]) == 0
    assert (tmp_path / "runs" / "stdin" / "model.safetensors").is_file()
    assert f"trained vae in {Path('runs/stdin')}" in capsys.readouterr().out


def test_a_pipe_path_is_read_like_a_file(tmp_path: Path, spec_dict):
    import os
    import threading

    fifo = tmp_path / "spec.fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text(yaml.safe_dump(spec_dict())))
    writer.start()
    try:
        assert load_spec(fifo).model == "vae"
    finally:
        writer.join()
