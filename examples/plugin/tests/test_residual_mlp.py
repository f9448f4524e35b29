"""The residual MLP encoder: its residual blocks and its contract."""

from __future__ import annotations

import pytest
import torch
from genkit_student_t import ResidualMLPEncoder, ResidualMLPParams

from genkit_core.testing import check_component


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({}, id="default"),
        pytest.param({"blocks": 0, "width": 8}, id="no-blocks"),
        pytest.param({"activation": "gelu", "layer_norm": False}, id="gelu-no-norm"),
    ],
)
def test_keeps_the_encoder_contract(options):
    encoder = check_component(ResidualMLPEncoder, options, name="residual_mlp")
    assert encoder.out_features == encoder.params.width


def test_a_block_adds_its_input_back():
    encoder = ResidualMLPEncoder(ResidualMLPParams(width=6, blocks=1), (4,))
    block = encoder.net[1]
    torch.nn.init.zeros_(block.body[-1].weight)
    torch.nn.init.zeros_(block.body[-1].bias)
    h = torch.randn(3, 6)
    torch.testing.assert_close(block(h), h)
