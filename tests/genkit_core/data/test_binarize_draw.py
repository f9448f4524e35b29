"""The test split's binarised draw belongs to the data (``data.binarize_seed``), not to the
training seed: runs of different seeds are measured on the same test images."""

from __future__ import annotations

import pytest
import torch

from genkit_core import DataBundle
from genkit_core.data import as_float, load_data, measured_draw
from genkit_core.spec import ModelSpec, load_spec

from ...conftest import TINY_SPEC


def _spec(binarize: str, seed: int, **data: int) -> ModelSpec:
    return load_spec(
        {
            **TINY_SPEC,
            "data": {**TINY_SPEC["data"], "binarize": binarize, **data},
            "train": {**TINY_SPEC["train"], "seed": seed},
        }
    )


def _grey() -> DataBundle:
    return load_data(_spec("none", 0))


@pytest.mark.parametrize("binarize", ["static", "dynamic"])
def test_the_test_draw_is_seeded_by_the_data_alone(binarize: str):
    grey = as_float(_grey().test.x)
    for seed in (0, 1, 7):
        test = load_data(_spec(binarize, seed)).test.x
        expected = torch.bernoulli(grey, generator=torch.Generator().manual_seed(0))
        torch.testing.assert_close(as_float(test), expected, rtol=0, atol=0)
    other = load_data(_spec(binarize, 0, binarize_seed=1)).test.x
    expected = torch.bernoulli(grey, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(as_float(other), expected, rtol=0, atol=0)


def test_the_static_training_draw_is_the_one_earlier_versions_made():
    grey = _grey()
    for seed in (0, 3):
        generator = torch.Generator().manual_seed(seed)  # the old order: test first, then train
        torch.bernoulli(as_float(grey.test.x), generator=generator)
        expected = torch.bernoulli(as_float(grey.train.x), generator=generator)
        train = load_data(_spec("static", seed, binarize_seed=5)).train.x
        torch.testing.assert_close(as_float(train), expected, rtol=0, atol=0)


def test_test_draw_names_the_binarisation_and_its_seed():
    assert measured_draw(_spec("none", 3).data) is None
    assert measured_draw(_spec("dynamic", 3).data) == {"binarize": "dynamic", "seed": 0}
    assert measured_draw(_spec("static", 3, binarize_seed=2).data) == {
        "binarize": "static",
        "seed": 2,
    }
