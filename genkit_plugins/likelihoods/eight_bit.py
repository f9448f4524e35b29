"""What the 8-bit likelihoods share: their support, [0, 1] in 256 steps."""

from __future__ import annotations

from torch import Tensor

__all__ = ["BINS", "bin_index", "unit_interval_error"]

BINS = 256
"""Values an 8-bit data element takes: k / 255 for k = 0, ..., 255."""


def bin_index(x: Tensor) -> Tensor:
    """``x`` in [0, 1] to its bin ``round(255 x)``, int64 of the same shape."""
    return (x * (BINS - 1)).round().clamp(0, BINS - 1).long()


def unit_interval_error(x: Tensor, name: str) -> str | None:
    """Why ``x`` does not fit an 8-bit likelihood called ``name``, or None."""
    low, high = float(x.min()), float(x.max())
    if low < 0 or high > 1:
        return (
            f"the {name} likelihood needs 8-bit data mapped to [0, 1], and the data spans "
            f"[{low:g}, {high:g}]; rescale it or use gaussian or laplace"
        )
    return None
