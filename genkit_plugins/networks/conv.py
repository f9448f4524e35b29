"""Convolutional encoder and decoder for images ``(C, H, W)``.

Each encoder layer is a 4x4 convolution of stride 2 (halving H and W, rounding down); the
decoder mirrors it with transposed convolutions whose output padding restores odd sizes exactly
(28 -> 14 -> 7 -> 14 -> 28, 8 -> 4 -> 2 -> 4 -> 8).
"""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import Field
from torch import Tensor, nn

from genkit_core import Decoder, Encoder, Params, SpecError

from .activations import Activation, activation

__all__ = ["ConvDecoder", "ConvEncoder", "ConvParams"]

Channels = Annotated[int, Field(gt=0, le=8192)]


class ConvParams(Params):
    """Channels per stride-2 layer (encoder order: shallow to deep; decoder: deep to shallow).

    ``hidden`` is the width of the fully connected layer between the feature map and the code
    (none when null).
    """

    channels: Annotated[list[Channels], Field(min_length=1, max_length=12)] = Field(
        default_factory=lambda: [32, 64],
        description="Output channels of each stride-2 layer; each layer halves the height and "
        "width (encoder: shallow to deep; decoder: deep to shallow).",
    )
    hidden: Annotated[int, Field(gt=0, le=65_536)] | None = Field(
        256,
        description="Width of the fully connected layer between the feature map and the code; "
        "null connects them directly.",
    )
    activation: Activation = Field("relu", description="The nonlinearity after each layer.")


def _image_shape(shape: tuple[int, ...], role: str) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise SpecError(
            f"conv needs image data of shape (C, H, W), but the {role} is {shape}; "
            "use type: mlp, or keep the data as images (data.flatten: false)",
            field="type",
        )
    return shape  # type: ignore[return-value]


def _sizes(size: int, layers: int) -> list[int]:
    """Spatial size after each stride-2 layer: ``[size, size // 2, ...]``."""
    sizes = [size]
    for _ in range(layers):
        sizes.append((sizes[-1] + 2 - 4) // 2 + 1)
    if sizes[-1] < 1:
        raise SpecError(
            f"{layers} stride-2 layers shrink a side of {size} pixels below 1; "
            "use fewer channels entries",
            field="channels",
        )
    return sizes


class ConvEncoder(Encoder):
    """Stride-2 convolutions, then a fully connected layer to ``hidden`` features."""

    Params = ConvParams

    def __init__(self, params: ConvParams, in_shape: tuple[int, ...]):
        super().__init__(params, in_shape)
        c, h, w = _image_shape(in_shape, "encoder input")
        hs, ws = _sizes(h, len(params.channels)), _sizes(w, len(params.channels))
        layers: list[nn.Module] = []
        for c_in, c_out in zip([c, *params.channels[:-1]], params.channels, strict=True):
            layers += [
                nn.Conv2d(c_in, c_out, 4, stride=2, padding=1),
                activation(params.activation),
            ]
        layers.append(nn.Flatten())
        flat = params.channels[-1] * hs[-1] * ws[-1]
        if params.hidden is not None:
            layers += [nn.Linear(flat, params.hidden), activation(params.activation)]
        self.out_features = params.hidden or flat
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ConvDecoder(Decoder):
    """Fully connected layers to a feature map, then stride-2 transposed convolutions."""

    Params = ConvParams

    def __init__(self, params: ConvParams, in_features: int, out_shape: tuple[int, ...]):
        super().__init__(params, in_features, out_shape)
        p, *image = out_shape
        c, h, w = _image_shape(tuple(image), "data")
        n = len(params.channels)
        hs, ws = _sizes(h, n), _sizes(w, n)
        self._start = (params.channels[0], hs[-1], ws[-1])
        act = params.activation
        fc: list[nn.Module] = []
        width = in_features
        if params.hidden is not None:
            fc += [nn.Linear(in_features, params.hidden), activation(act)]
            width = params.hidden
        fc += [nn.Linear(width, math.prod(self._start)), activation(act)]
        ups: list[nn.Module] = []
        outs = [*params.channels[1:], p * c]
        for i, (c_in, c_out) in enumerate(zip(params.channels, outs, strict=True)):
            pad = (hs[n - 1 - i] - 2 * hs[n - i], ws[n - 1 - i] - 2 * ws[n - i])
            ups.append(nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, output_padding=pad))
            if i < n - 1:
                ups.append(activation(act))
        self.fc = nn.Sequential(*fc)
        self.up = nn.Sequential(*ups)

    def forward(self, z: Tensor) -> Tensor:
        x = self.up(self.fc(z).view(z.shape[0], *self._start))
        return x.view(z.shape[0], *self.out_shape)
