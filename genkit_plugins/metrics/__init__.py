"""Disentanglement metrics as disentanglement_lib defines them: pure functions of a ground-truth
data set (:class:`~genkit_core.GroundTruthData`) and a representation (observations to codes).

Each takes a ``numpy.random.Generator`` and returns a dict of scores; the sample counts,
discretisation and classifiers default to those of disentanglement_lib's study configuration
(Locatello et al. 2019). Each is also a ``metric`` component (:class:`MIG`, ...) for
``genkit eval RUN --metric mig``, its parameters those defaults.
"""

from ._sampling import Representation, factor_codes, histogram_discretize
from .beta_vae_score import BetaVAEScore, beta_vae_score
from .dci import DCI, dci
from .factor_vae_score import FactorVAEScore, factor_vae_score
from .mig import MIG, mig
from .sap import SAP, sap

__all__ = [
    "DCI",
    "MIG",
    "SAP",
    "BetaVAEScore",
    "FactorVAEScore",
    "Representation",
    "beta_vae_score",
    "dci",
    "factor_codes",
    "factor_vae_score",
    "histogram_discretize",
    "mig",
    "sap",
]
