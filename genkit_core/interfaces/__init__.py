"""The component interfaces that plugins implement, one kind each."""

from dataclasses import dataclass

from .callback import Callback, TrainingRun
from .conditioner import Conditioner
from .data import DataBundle, DataInfo, DataSource, GroundTruthData, Split
from .divergence import Divergence, Penalty
from .features import FeatureExtractor, feature_cache_dir
from .likelihood import Likelihood
from .logger import Logger, RunStatus
from .metric import Metric, MetricData, MetricParams
from .networks import Decoder, Encoder
from .objective import Objective, ObjectiveOutput, ObjectiveParams
from .params import Annealing, DataParams, DivergenceParams, Params, spec_type
from .posterior import Draw, PointMass, Posterior
from .prior import Prior


@dataclass(frozen=True)
class Kind:
    """A component kind: the interface its classes subclass, and the spec section that names
    its components (``many``: a list of them; None: no section, as for a metric or a feature
    extractor, which is named where it is used).
    """

    interface: type
    section: str | None
    many: bool = False


COMPONENT_KINDS: dict[str, Kind] = {
    "encoder": Kind(Encoder, "encoder"),
    "posterior": Kind(Posterior, "posterior"),
    "decoder": Kind(Decoder, "decoder"),
    "prior": Kind(Prior, "prior"),
    "divergence": Kind(Divergence, "divergence"),
    "likelihood": Kind(Likelihood, "likelihood"),
    "objective": Kind(Objective, "objective"),
    "conditioner": Kind(Conditioner, "conditioner"),
    "data": Kind(DataSource, "data"),
    "logger": Kind(Logger, "logging", many=True),
    "callback": Kind(Callback, "callbacks", many=True),
    "metric": Kind(Metric, None),
    "feature_extractor": Kind(FeatureExtractor, None),
}
"""The one table of component kinds: every other view (:data:`KINDS`, the spec's sections)
is derived from it."""

KINDS: dict[str, type] = {name: kind.interface for name, kind in COMPONENT_KINDS.items()}
"""Every component kind and the interface its classes subclass."""

__all__ = [
    "COMPONENT_KINDS",
    "KINDS",
    "Annealing",
    "Callback",
    "Conditioner",
    "DataBundle",
    "DataInfo",
    "DataParams",
    "DataSource",
    "Decoder",
    "Divergence",
    "DivergenceParams",
    "Draw",
    "Encoder",
    "FeatureExtractor",
    "GroundTruthData",
    "Kind",
    "Likelihood",
    "Logger",
    "Metric",
    "MetricData",
    "MetricParams",
    "Objective",
    "ObjectiveOutput",
    "ObjectiveParams",
    "Params",
    "Penalty",
    "PointMass",
    "Posterior",
    "Prior",
    "RunStatus",
    "Split",
    "TrainingRun",
    "feature_cache_dir",
    "spec_type",
]
