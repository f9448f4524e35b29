"""The images' own pixels as features: a baseline that needs no training and no weights."""

from __future__ import annotations

from torch import Tensor

from genkit_core import FeatureExtractor, Params

__all__ = ["Pixels"]


class Pixels(FeatureExtractor):
    r"""The images' pixels, flattened: :math:`F = C \cdot H \cdot W` features.

    Needs nothing, so it suits any image data and tests; it is blind to what makes an image
    look like its data set (a shift by one pixel is far), so prefer a classifier's features.
    """

    Params = Params

    def __call__(self, images: Tensor) -> Tensor:
        return images.flatten(1)
