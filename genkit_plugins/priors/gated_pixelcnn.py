r"""A gated PixelCNN over a grid of discrete codes (van den Oord et al., 2016, "Conditional Image
Generation with PixelCNN Decoders"): the autoregressive prior the VQ-VAE paper fits to its codes.

The distribution over a grid of indices factorises in raster order,
:math:`p(k) = \prod_{i,j} p(k_{ij} \mid k_{<ij})`, where :math:`k_{<ij}` is every cell of the rows
above and the cells to the left in row i. Two stacks of masked convolutions keep that order
without the blind spot of the original PixelCNN: the *vertical* stack at (i, j) sees only rows
above i (all columns within its growing reach), the *horizontal* stack sees row i left of j plus
the vertical stack at (i, j). The first layer excludes the cell itself; later layers may include
their own cell, which by induction depends only on earlier cells.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["GatedPixelCNN"]


class _MaskedConv(nn.Conv2d):
    """A 2-d convolution whose kernel is multiplied by a fixed 0/1 mask before use."""

    mask: Tensor  # a buffer (nn.Module types attributes Tensor | Module)

    def __init__(self, c_in: int, c_out: int, kernel: tuple[int, int], mask: Tensor):
        super().__init__(c_in, c_out, kernel, padding=(kernel[0] // 2, kernel[1] // 2))
        self.register_buffer("mask", mask.to(self.weight.dtype), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, self.weight * self.mask, self.bias)  # type: ignore[no-any-return]  # torch leaves it unannotated


def _vertical_mask(k: int, first: bool) -> Tensor:
    """Rows above the centre (and the centre row too, after the first layer); all columns."""
    mask = torch.zeros(k, k)
    mask[: k // 2 + (0 if first else 1)] = 1
    return mask


def _horizontal_mask(k: int, first: bool) -> Tensor:
    """Columns left of the centre (and the centre too, after the first layer), in one row."""
    mask = torch.zeros(1, k)
    mask[0, : k // 2 + (0 if first else 1)] = 1
    return mask


def _gate(x: Tensor) -> Tensor:
    a, b = x.chunk(2, dim=1)
    return torch.tanh(a) * torch.sigmoid(b)


class _GatedLayer(nn.Module):
    """One gated layer of both stacks; the first has no residual (it would see its own cell)."""

    def __init__(self, channels: int, kernel: int, first: bool):
        super().__init__()
        c = channels
        self.first = first
        self.vertical = _MaskedConv(c, 2 * c, (kernel, kernel), _vertical_mask(kernel, first))
        self.horizontal = _MaskedConv(c, 2 * c, (1, kernel), _horizontal_mask(kernel, first))
        self.vertical_to_horizontal = nn.Conv2d(2 * c, 2 * c, 1)
        self.out = nn.Conv2d(c, c, 1)

    def forward(self, v: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        v_pre = self.vertical(v)
        h_pre = self.horizontal(h) + self.vertical_to_horizontal(v_pre)
        h_new = self.out(_gate(h_pre))
        return _gate(v_pre), h_new if self.first else h + h_new


class GatedPixelCNN(nn.Module):
    """Logits ``(N, K, H, W)`` of every cell given the cells before it, for indices ``(N, H, W)``.

    Args:
        codes: K, the number of values a cell takes.
        channels: feature maps per stack.
        layers: gated layers (the receptive field grows by ``kernel // 2`` per layer).
        kernel: the side of the vertical stack's kernel (odd).
    """

    def __init__(self, codes: int, channels: int, layers: int, kernel: int):
        super().__init__()
        self.embedding = nn.Embedding(codes, channels)
        self.layers = nn.ModuleList(
            _GatedLayer(channels, kernel, first=i == 0) for i in range(layers)
        )
        self.head = nn.Sequential(
            nn.ReLU(), nn.Conv2d(channels, channels, 1), nn.ReLU(), nn.Conv2d(channels, codes, 1)
        )

    def forward(self, indices: Tensor) -> Tensor:
        return self.logits(self.embedding(indices).permute(0, 3, 1, 2))

    def logits(self, embedded: Tensor) -> Tensor:
        """Logits for embedded cells ``(N, C, H, W)`` (what the causality test differentiates)."""
        v = h = embedded
        for layer in self.layers:
            v, h = layer(v, h)
        return cast(Tensor, self.head(h))  # nn.Module calls are typed Any

    def log_prob(self, indices: Tensor) -> Tensor:
        r"""``(N,)`` :math:`\log p(k)` in nats of index grids ``(N, H, W)``."""
        logits = self(indices)
        return -F.cross_entropy(logits, indices, reduction="none").flatten(1).sum(1)

    @torch.no_grad()
    def sample(self, n: int, height: int, width: int, device: torch.device) -> Tensor:
        """``(n, H, W)`` index grids drawn cell by cell in raster order (H x W network passes)."""
        indices = torch.zeros(n, height, width, dtype=torch.long, device=device)
        for i in range(height):
            for j in range(width):
                probs = self(indices)[:, :, i, j].softmax(1)
                indices[:, i, j] = torch.multinomial(probs, 1).squeeze(1)
        return indices
