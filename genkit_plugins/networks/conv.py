"""Convolutional encoder and decoder for images ``(C, H, W)``.

Each encoder layer is a 4x4 convolution of stride 2 (halving H and W, rounding down); the
decoder mirrors it with transposed convolutions whose output padding restores odd sizes exactly
(28 -> 14 -> 7 -> 14 -> 28, 8 -> 4 -> 2 -> 4 -> 8).

Between the feature map and the code sits a fully connected layer, unless the encoder gives its
feature map itself (``feature_map: true``, for a posterior over a grid of codes such as
``vq``); the decoder then starts from that grid with a 3x3 convolution instead of its fully
connected layers.
"""

from __future__ import annotations

import math
from typing import Annotated, cast

from pydantic import Field
from torch import Tensor, nn

from genkit_core import Decoder, Encoder, Params, SpecError

from .activations import Activation, activation

__all__ = ["ConvDecoder", "ConvEncoder", "ConvEncoderParams", "ConvParams"]

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


class ConvEncoderParams(ConvParams):
    """The conv encoder's options: those of :class:`ConvParams`, and whether it stops at its
    feature map.
    """

    feature_map: bool = Field(
        False,
        description="Give the last convolution's feature map (C, H, W) itself instead of a flat "
        "vector: for a posterior over a grid of codes (vq). Needs hidden: null.",
    )


def _image_shape(shape: tuple[int, ...], role: str) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise SpecError(
            f"conv needs image data of shape (C, H, W), but the {role} is {shape}; "
            "use type: mlp, or keep the data as images (data.flatten: false)",
            field="type",
        )
    return shape


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
    """Stride-2 convolutions, then a fully connected layer to ``hidden`` features; or, with
    ``feature_map: true``, the last feature map ``(C, H, W)`` itself.
    """

    Params = ConvEncoderParams

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
        grid = (params.channels[-1], hs[-1], ws[-1])
        flat = math.prod(grid)
        if getattr(params, "feature_map", False):  # ConvParams alone: the flat encoder
            if params.hidden is not None:
                raise SpecError(
                    "feature_map: true gives the feature map itself, with no fully connected "
                    f"layer after it, and hidden is {params.hidden}; set hidden: null",
                    field="hidden",
                )
            self.out_shape = grid
        else:
            layers.append(nn.Flatten())
            if params.hidden is not None:
                layers += [nn.Linear(flat, params.hidden), activation(params.activation)]
        self.out_features = flat if params.hidden is None else params.hidden
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return cast(Tensor, self.net(x))  # nn.Module calls are typed Any


class ConvDecoder(Decoder):
    """Fully connected layers to a feature map, then stride-2 transposed convolutions.

    Given a grid of codes ``in_shape = (D, H, W)`` (a ``vq`` posterior's), it starts from the
    grid instead: a 3x3 convolution to ``channels[0]`` maps, then the same transposed
    convolutions; the grid must be the size its layers start from (as many ``channels``
    entries as the encoder's).
    """

    Params = ConvParams
    shaped_input = True

    def __init__(
        self,
        params: ConvParams,
        in_features: int,
        out_shape: tuple[int, ...],
        in_shape: tuple[int, ...] | None = None,
    ):
        super().__init__(params, in_features, out_shape, in_shape)
        p, *image = out_shape
        c, h, w = _image_shape(tuple(image), "data")
        n = len(params.channels)
        hs, ws = _sizes(h, n), _sizes(w, n)
        self._start = (params.channels[0], hs[-1], ws[-1])
        act = params.activation
        self._grid = len(self.in_shape) == 3
        if self._grid:
            self.fc = self._from_grid(params, hs[-1], ws[-1])
        else:
            self.fc = self._fully_connected(params, in_features)
        ups: list[nn.Module] = []
        outs = [*params.channels[1:], p * c]
        for i, (c_in, c_out) in enumerate(zip(params.channels, outs, strict=True)):
            pad = (hs[n - 1 - i] - 2 * hs[n - i], ws[n - 1 - i] - 2 * ws[n - i])
            ups.append(nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, output_padding=pad))
            if i < n - 1:
                ups.append(activation(act))
        self.up = nn.Sequential(*ups)

    def _fully_connected(self, params: ConvParams, in_features: int) -> nn.Sequential:
        fc: list[nn.Module] = []
        width = in_features
        if params.hidden is not None:
            fc += [nn.Linear(in_features, params.hidden), activation(params.activation)]
            width = params.hidden
        fc += [nn.Linear(width, math.prod(self._start)), activation(params.activation)]
        return nn.Sequential(*fc)

    def _from_grid(self, params: ConvParams, h: int, w: int) -> nn.Sequential:
        d, grid_h, grid_w = self.in_shape
        if params.hidden is not None:
            raise SpecError(
                f"the conv decoder starts from the posterior's grid {self.in_shape}, with no "
                f"fully connected layer, and hidden is {params.hidden}; set hidden: null",
                field="hidden",
            )
        if (grid_h, grid_w) != (h, w):
            raise SpecError(
                f"the conv decoder's {len(params.channels)} layers start from a {h}x{w} grid, "
                f"and the posterior gives {grid_h}x{grid_w}; give the decoder as many channels "
                "entries as the encoder",
                field="channels",
            )
        conv = nn.Conv2d(d, params.channels[0], 3, padding=1)
        return nn.Sequential(conv, activation(params.activation))

    def forward(self, z: Tensor) -> Tensor:
        start = self.fc(z) if self._grid else self.fc(z.flatten(1))
        x: Tensor = self.up(start.view(z.shape[0], *self._start))
        return x.view(z.shape[0], *self.out_shape)
