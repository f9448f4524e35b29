"""The component interfaces that plugins implement, one kind each."""

from .callback import Callback, TrainingRun
from .conditioner import Conditioner
from .data import DataBundle, DataInfo, DataSource, GroundTruthData, Split
from .divergence import Divergence, Penalty
from .likelihood import Likelihood
from .logger import Logger, RunStatus
from .metric import Metric, MetricData, MetricParams
from .networks import Decoder, Encoder
from .objective import Objective, ObjectiveOutput, ObjectiveParams
from .params import Annealing, DataParams, DivergenceParams, Params, spec_type
from .posterior import Draw, PointMass, Posterior
from .prior import Prior

KINDS: dict[str, type] = {
    "encoder": Encoder,
    "posterior": Posterior,
    "decoder": Decoder,
    "prior": Prior,
    "divergence": Divergence,
    "likelihood": Likelihood,
    "objective": Objective,
    "conditioner": Conditioner,
    "data": DataSource,
    "logger": Logger,
    "callback": Callback,
    "metric": Metric,
}
"""Every component kind and the interface its classes subclass."""

__all__ = [
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
    "GroundTruthData",
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
    "spec_type",
]
