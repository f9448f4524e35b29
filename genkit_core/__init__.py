"""genkit: latent-variable generative models (AE, VAE, CVAE) composed from plugins and specs.

The core defines the component interfaces, the pluggy registry, the spec schema, the one model
class, the one trainer and the CLI. It imports nothing from ``genkit_plugins``: the built-ins
arrive through the ``genkit`` entry point like any third-party plugin.
"""

from . import _interrupts  # first: a Ctrl-C while torch imports is kept, not lost
from ._version import __version__
from .build import build_model
from .components import build_component
from .data import describe_data
from .errors import (
    DataError,
    DuplicateComponentError,
    GenkitError,
    GenkitWarning,
    NonFiniteError,
    PluginError,
    RunError,
    SpecError,
    UnknownComponentError,
)
from .fitted_priors import fit_prior, fitted_priors
from .hookspecs import hookimpl, hookspec
from .interfaces import (
    KINDS,
    Annealing,
    Callback,
    Conditioner,
    DataBundle,
    DataInfo,
    DataParams,
    DataSource,
    Decoder,
    Divergence,
    DivergenceParams,
    Draw,
    Encoder,
    FeatureExtractor,
    GroundTruthData,
    Likelihood,
    Logger,
    Metric,
    MetricData,
    MetricParams,
    Objective,
    ObjectiveOutput,
    ObjectiveParams,
    Params,
    Penalty,
    PointMass,
    Posterior,
    Prior,
    Split,
    TrainingRun,
)
from .model import LatentVariableModel, ModelOutput
from .registry import Component, PluginProblem, Registry, get_registry
from .spec import ModelSpec, TrainSpec, load_spec, spec_model

__all__ = [
    "KINDS",
    "Annealing",
    "Callback",
    "Component",
    "Conditioner",
    "DataBundle",
    "DataError",
    "DataInfo",
    "DataParams",
    "DataSource",
    "Decoder",
    "Divergence",
    "DivergenceParams",
    "Draw",
    "DuplicateComponentError",
    "Encoder",
    "FeatureExtractor",
    "GenkitError",
    "GenkitWarning",
    "GroundTruthData",
    "LatentVariableModel",
    "Likelihood",
    "Logger",
    "Metric",
    "MetricData",
    "MetricParams",
    "ModelOutput",
    "ModelSpec",
    "NonFiniteError",
    "Objective",
    "ObjectiveOutput",
    "ObjectiveParams",
    "Params",
    "Penalty",
    "PluginError",
    "PluginProblem",
    "PointMass",
    "Posterior",
    "Prior",
    "Registry",
    "RunError",
    "SpecError",
    "Split",
    "TrainSpec",
    "TrainingRun",
    "UnknownComponentError",
    "__version__",
    "build_component",
    "build_model",
    "describe_data",
    "fit_prior",
    "fitted_priors",
    "get_registry",
    "hookimpl",
    "hookspec",
    "load_spec",
    "spec_model",
]

_interrupts.release()  # every import above is done: Python answers Ctrl-C again
