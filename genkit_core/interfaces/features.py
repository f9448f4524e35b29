r"""FeatureExtractor: images to feature vectors, the space a sample-quality metric compares in.

A feature extractor is a component like any other, named where it is used:
``genkit eval RUN --metric '{type: fd, features: {type: digit_classifier}}'``. The metric
gives it the run's data once (:meth:`FeatureExtractor.prepare`: train a classifier, or read it
from the cache, or read weights from a file), then calls it on batches of images.

Example::

    class MeanPixel(FeatureExtractor):
        '''The mean intensity of each channel.'''

        def __call__(self, images):
            return images.mean(dim=(2, 3))
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel
from torch import Tensor

from .params import Params

if TYPE_CHECKING:
    from .metric import MetricData

__all__ = ["FeatureExtractor", "feature_cache_dir"]

CACHE_VARIABLE = "GENKIT_CACHE"
"""The environment variable that moves genkit's cache (default ``~/.cache/genkit``)."""


def feature_cache_dir() -> Path:
    """Where feature extractors keep what they trained: ``$GENKIT_CACHE/features``, else
    ``$XDG_CACHE_HOME/genkit/features``, else ``~/.cache/genkit/features``.
    """
    root = os.environ.get(CACHE_VARIABLE)
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        root = str(Path(xdg) / "genkit")
    return Path(root).expanduser() / "features"


class FeatureExtractor(ABC):
    """Images ``(B, C, H, W)`` in [0, 1] to features ``(B, F)``.

    Attributes:
        identity: what the features are, for messages and cache keys: the extractor's name and
            a hash of its trained state or weights (set by :meth:`prepare`).

    Args:
        params: the validated spec of the extractor (``{type: digit_classifier}``).
    """

    kind: ClassVar[str] = "feature_extractor"
    Params: ClassVar[type[BaseModel]] = Params

    def __init__(self, params: BaseModel):
        self.params = params
        self.identity = str(getattr(params, "type", type(self).__name__))

    def prepare(self, data: MetricData) -> None:  # noqa: B027  # optional: most need nothing
        """Make the extractor ready for the run's data, once, before it is called: train a
        classifier on ``data.bundle.train`` (or read it from :func:`feature_cache_dir`), read
        weights from a file. Does nothing by default.

        Raises:
            DataError: the data does not suit the extractor (no labels to train on, ...).
            RunError: a file it needs cannot be read.
        """

    @abstractmethod
    def __call__(self, images: Tensor) -> Tensor:
        """The features ``(B, F)`` of ``images`` ``(B, C, H, W)`` in [0, 1], without gradients,
        on the images' device.
        """
