"""The component interfaces that plugins implement, one kind each."""

from .conditioner import Conditioner
from .data import DataBundle, DataInfo, DataSource, Split
from .divergence import Divergence
from .likelihood import Likelihood
from .logger import Logger
from .networks import Decoder, Encoder
from .params import Annealing, DataParams, DivergenceParams, Params
from .prior import PosteriorFn, Prior

KINDS: dict[str, type] = {
    "encoder": Encoder,
    "decoder": Decoder,
    "prior": Prior,
    "divergence": Divergence,
    "likelihood": Likelihood,
    "conditioner": Conditioner,
    "data": DataSource,
    "logger": Logger,
}
"""Every component kind and the interface its classes subclass."""

__all__ = [
    "KINDS",
    "Annealing",
    "Conditioner",
    "DataBundle",
    "DataInfo",
    "DataParams",
    "DataSource",
    "Decoder",
    "Divergence",
    "DivergenceParams",
    "Encoder",
    "Likelihood",
    "Logger",
    "Params",
    "PosteriorFn",
    "Prior",
    "Split",
]
