"""Metrics of trained models.

Disentanglement metrics as disentanglement_lib defines them: pure functions of a ground-truth
data set (:class:`~genkit_core.GroundTruthData`) and a representation (observations to codes).

Each takes a ``numpy.random.Generator`` and returns a dict of scores; the sample counts,
discretisation and classifiers default to those of disentanglement_lib's study configuration
(Locatello et al. 2019). Each is also a ``metric`` component (:class:`MIG`, ...) for
``genkit eval RUN --metric mig``, its parameters those defaults.

Sample-quality metrics: the Fréchet distance (:class:`FD`, ``fd``) and improved precision and
recall (:class:`PrecisionRecall`, ``precision_recall``) of the model's draws against test
images, in a feature extractor's space (``genkit_plugins.features``), each with its floor.
"""

from ._sampling import Representation, factor_codes, histogram_discretize
from .beta_vae_score import BetaVAEScore, beta_vae_score
from .dci import DCI, dci
from .factor_vae_score import FactorVAEScore, factor_vae_score
from .frechet import FD, frechet_distance, gaussian_frechet_distance
from .mig import MIG, mig
from .precision_recall import PrecisionRecall, precision_recall
from .sap import SAP, sap

__all__ = [
    "DCI",
    "FD",
    "MIG",
    "SAP",
    "BetaVAEScore",
    "FactorVAEScore",
    "PrecisionRecall",
    "Representation",
    "beta_vae_score",
    "dci",
    "factor_codes",
    "factor_vae_score",
    "frechet_distance",
    "gaussian_frechet_distance",
    "histogram_discretize",
    "mig",
    "precision_recall",
    "sap",
]
