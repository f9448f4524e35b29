"""The train settings of issue 16: ``threads`` and the removed ``torch_compile``."""

from __future__ import annotations

import pytest

from genkit_core import SpecError, load_spec


def _train(spec_dict, **train):
    data = spec_dict()
    return load_spec({**data, "train": {**data["train"], **train}}).train


def test_torch_compile_is_refused_saying_why_and_what_to_use(spec_dict):
    with pytest.raises(SpecError, match=r"train\.compile: .*torch_compile was removed: it ran 6x "
                       r"slower than cuda_graph on an H200 .*; use auto"):  # fmt: skip
        _train(spec_dict, compile="torch_compile")


@pytest.mark.parametrize("value", ["auto", "off", "cuda_graph"])
def test_the_other_compile_settings_stay(spec_dict, value):
    assert _train(spec_dict, compile=value).compile == value


@pytest.mark.parametrize("value", ["auto", 1, 3])
def test_threads_is_auto_or_a_positive_count(spec_dict, value):
    assert _train(spec_dict, threads=value).threads == value


def test_threads_default_to_auto(spec_dict):
    assert _train(spec_dict).threads == "auto"


@pytest.mark.parametrize("value", [0, -2, "all", 1.5])
def test_other_thread_counts_are_refused_naming_the_field(spec_dict, value):
    with pytest.raises(SpecError, match=r"train\.threads"):
        _train(spec_dict, threads=value)


def test_threads_can_be_set_from_the_command_line(spec_dict, tmp_path):
    import yaml

    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(spec_dict()))
    assert load_spec(path, ["train.threads=2"]).train.threads == 2
