"""Feature extractors: the spaces the sample-quality metrics (``fd``, ``precision_recall``)
compare images in.
"""

from .digit_classifier import DigitClassifier, DigitClassifierParams
from .inception import Inception, InceptionParams
from .pixels import Pixels

__all__ = ["DigitClassifier", "DigitClassifierParams", "Inception", "InceptionParams", "Pixels"]
