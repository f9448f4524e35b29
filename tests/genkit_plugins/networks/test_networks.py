"""mlp and conv networks: shapes for flat data and images of several sizes."""

from __future__ import annotations

import pytest
import torch

from genkit_core import SpecError
from genkit_plugins.networks.conv import ConvDecoder, ConvEncoder, ConvEncoderParams, ConvParams
from genkit_plugins.networks.mlp import MLPDecoder, MLPEncoder, MLPParams


@pytest.mark.parametrize(
    "shape",
    [
        pytest.param((1, 28, 28), id="mnist"),
        pytest.param((3, 32, 32), id="cifar"),
        pytest.param((1, 8, 8), id="digits"),
        pytest.param((2, 7, 9), id="odd-sizes"),
    ],
)
def test_conv_encoder_and_decoder_fit_images(shape):
    encoder = ConvEncoder(ConvParams(channels=[8, 16]), shape)
    assert encoder(torch.rand(2, *shape)).shape == (2, encoder.out_features)
    decoder = ConvDecoder(ConvParams(channels=[16, 8]), 5, (2, *shape))
    assert decoder(torch.randn(3, 5)).shape == (3, 2, *shape)


@pytest.mark.parametrize(
    "shape",
    [pytest.param((1, 28, 28), id="mnist"), pytest.param((2, 7, 9), id="odd-sizes")],
)
def test_a_feature_map_goes_through_a_decoder_that_starts_from_the_grid(shape):
    encoder = ConvEncoder(ConvEncoderParams(channels=[8, 16], hidden=None, feature_map=True), shape)
    grid = encoder.out_shape
    assert encoder(torch.rand(2, *shape)).shape == (2, *grid)
    assert encoder.out_features == grid[0] * grid[1] * grid[2]
    codes = (5, *grid[1:])  # a posterior's grid: 5 numbers per cell
    decoder = ConvDecoder(ConvParams(channels=[16, 8], hidden=None), 5 * grid[1] * grid[2],
                          (2, *shape), in_shape=codes)  # fmt: skip
    assert decoder(torch.randn(3, *codes)).shape == (3, 2, *shape)
    assert isinstance(decoder.fc[0], torch.nn.Conv2d)  # no fully connected layer


def test_a_feature_map_has_no_fully_connected_layer():
    with pytest.raises(SpecError, match=r"feature_map: true gives the feature map itself.*"
                                        r"hidden is 256; set hidden: null"):  # fmt: skip
        ConvEncoder(ConvEncoderParams(feature_map=True), (1, 8, 8))


@pytest.mark.parametrize(
    ("params", "grid", "message"),
    [
        pytest.param({"channels": [8, 8]}, (4, 2, 2), r"hidden is 256; set hidden: null",
                     id="hidden"),
        pytest.param({"channels": [8], "hidden": None}, (4, 2, 2),
                     r"1 layers start from a 4x4 grid, and the posterior gives 2x2", id="size"),
    ],
)  # fmt: skip
def test_a_decoder_from_a_grid_refuses_what_does_not_fit(params, grid, message):
    with pytest.raises(SpecError, match=message):
        ConvDecoder(ConvParams(**params), 16, (1, 1, 8, 8), in_shape=grid)


def test_conv_refuses_flat_data():
    with pytest.raises(SpecError, match="conv needs image data"):
        ConvEncoder(ConvParams(), (784,))


def test_conv_refuses_more_layers_than_the_image_allows():
    with pytest.raises(SpecError, match="shrink a side of 8 pixels below 1"):
        ConvEncoder(ConvParams(channels=[4, 4, 4, 4]), (1, 8, 8))


def test_mlp_flattens_any_shape_and_reshapes_its_output():
    encoder = MLPEncoder(MLPParams(hidden=[16, 8]), (1, 4, 4))
    assert encoder(torch.rand(3, 1, 4, 4)).shape == (3, 8)
    decoder = MLPDecoder(MLPParams(hidden=[8]), 2, (2, 1, 4, 4))
    assert decoder(torch.randn(3, 2)).shape == (3, 2, 1, 4, 4)
