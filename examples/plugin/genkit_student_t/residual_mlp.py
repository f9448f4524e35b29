"""Residual MLP encoder: an MLP whose hidden blocks add their input back (He et al., 2016)."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field
from torch import Tensor, nn

from genkit_core import Encoder, Params

__all__ = ["ResidualMLPEncoder", "ResidualMLPParams"]

_ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU}


class ResidualMLPParams(Params):
    """The width and depth of the residual stack."""

    width: Annotated[int, Field(gt=0, le=65_536)] = Field(
        256, description="The width of the input projection and of every block."
    )
    blocks: Annotated[int, Field(ge=0, le=64)] = Field(
        2, description="How many residual blocks follow the projection."
    )
    activation: Literal["relu", "gelu", "silu"] = Field(
        "relu", description="The nonlinearity inside each block."
    )
    layer_norm: bool = Field(True, description="Normalise each block's input (pre-norm).")


class _Block(nn.Module):
    """``h + W2 act(W1 norm(h))``: a pre-norm residual block."""

    def __init__(self, width: int, activation: str, layer_norm: bool):
        super().__init__()
        self.body = nn.Sequential(
            nn.LayerNorm(width) if layer_norm else nn.Identity(),
            nn.Linear(width, width),
            _ACTIVATIONS[activation](),
            nn.Linear(width, width),
        )

    def forward(self, h: Tensor) -> Tensor:
        return h + self.body(h)


class ResidualMLPEncoder(Encoder):
    """Residual MLP: flattened data -> width -> residual blocks -> activation, ``(B, width)``."""

    Params = ResidualMLPParams

    def __init__(self, params: ResidualMLPParams, in_shape: tuple[int, ...]):
        super().__init__(params, in_shape)
        self.out_features = params.width
        blocks = [
            _Block(params.width, params.activation, params.layer_norm) for _ in range(params.blocks)
        ]
        self.net = nn.Sequential(
            nn.Linear(math.prod(in_shape), params.width),
            *blocks,
            _ACTIVATIONS[params.activation](),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1))
