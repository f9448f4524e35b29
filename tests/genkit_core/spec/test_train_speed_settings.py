"""The train settings of issue 16: the removed ``torch_compile``."""

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
