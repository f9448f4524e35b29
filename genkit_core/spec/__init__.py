"""Declarative specs: the schema built from registered plugins, files, and validation."""

from .files import apply_overrides, dump_spec, read_spec_file, set_field
from .kinds import MODEL_KINDS, ModelKind
from .loading import SpecValidationError, load_spec, resolve
from .model_spec import LIST_SECTIONS, SECTIONS, ModelSpec, spec_model
from .train import OptimizerSpec, ScheduleSpec, Stage, TrainSpec

__all__ = [
    "LIST_SECTIONS",
    "MODEL_KINDS",
    "SECTIONS",
    "ModelKind",
    "ModelSpec",
    "OptimizerSpec",
    "ScheduleSpec",
    "SpecValidationError",
    "Stage",
    "TrainSpec",
    "apply_overrides",
    "dump_spec",
    "load_spec",
    "read_spec_file",
    "resolve",
    "set_field",
    "spec_model",
]
