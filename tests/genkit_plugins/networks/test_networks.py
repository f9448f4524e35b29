"""mlp and conv networks: shapes for flat data and images of several sizes."""

from __future__ import annotations

import pytest
import torch

from genkit_core import SpecError
from genkit_plugins.networks.conv import ConvDecoder, ConvEncoder, ConvParams
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
