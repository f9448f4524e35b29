"""Fully connected encoder and decoder, for data of any shape (flattened)."""

from __future__ import annotations

import itertools
import math
from typing import Annotated, cast

from pydantic import Field
from torch import Tensor, nn

from genkit_core import Decoder, Encoder, Params

from .activations import Activation, activation

__all__ = ["MLPDecoder", "MLPEncoder", "MLPParams", "mlp_stack"]

Width = Annotated[int, Field(gt=0, le=65_536)]


class MLPParams(Params):
    """Hidden layer widths, in the order data flows, and their activation."""

    hidden: Annotated[list[Width], Field(max_length=64)] = Field(
        default_factory=lambda: [512],
        description="Widths of the hidden layers, in the order data flows through them (the "
        "decoder usually mirrors the encoder); an empty list is a single linear layer.",
    )
    activation: Activation = Field("relu", description="The nonlinearity after each hidden layer.")


def mlp_stack(sizes: list[int], act: Activation, last_activation: bool) -> nn.Sequential:
    """Linear layers between consecutive ``sizes``, each followed by ``act`` (the last one only
    with ``last_activation``); two sizes make one linear layer.
    """
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(n_in, n_out))
        if last_activation or i < len(sizes) - 2:
            layers.append(activation(act))
    return nn.Sequential(*layers)


class MLPEncoder(Encoder):
    """Multilayer perceptron: flattened data -> hidden layers (each followed by the activation)."""

    Params = MLPParams

    def __init__(self, params: MLPParams, in_shape: tuple[int, ...]):
        super().__init__(params, in_shape)
        sizes = [math.prod(in_shape), *params.hidden]
        self.out_features = sizes[-1]
        self.net = mlp_stack(sizes, params.activation, last_activation=True)

    def forward(self, x: Tensor) -> Tensor:
        return cast(Tensor, self.net(x.flatten(1)))  # nn.Module calls are typed Any


class MLPDecoder(Decoder):
    """Multilayer perceptron: latent -> hidden layers -> every likelihood parameter, reshaped."""

    Params = MLPParams

    def __init__(self, params: MLPParams, in_features: int, out_shape: tuple[int, ...]):
        super().__init__(params, in_features, out_shape)
        sizes = [in_features, *params.hidden, math.prod(out_shape)]
        self.net = mlp_stack(sizes, params.activation, last_activation=False)

    def forward(self, z: Tensor) -> Tensor:
        return cast(Tensor, self.net(z)).view(z.shape[0], *self.out_shape)
