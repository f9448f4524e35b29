"""What genkit's safetensors files say about themselves, validated as a spec is.

``model.safetensors`` and ``checkpoint.safetensors`` carry JSON metadata beside their tensors:
the data's description, the position training reached, the layout of the optimiser state. A
file may come from a stranger or have been edited, so every field is checked before genkit uses
it: a step is a whole number, never ``'1'`` or ``-5``; a shape is a tuple of positive sizes. A
mistake is a :class:`RunError` naming the file, the field and the value.

Files of every genkit version read the same way: fields added later have defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from .errors import RunError, shown

__all__ = ["CheckpointMetadata", "DataMetadata", "PositionMetadata", "WeightsMetadata", "checked"]

Count = Annotated[StrictInt, Field(ge=0, lt=1 << 62)]
"""Steps, epochs, batches: whole numbers from 0 (``True`` and ``'1'`` are refused)."""
Size = Annotated[StrictInt, Field(gt=0, lt=1 << 31)]
"""A tensor size or a number of classes: positive."""


class _Metadata(BaseModel):
    # keys this genkit does not know (a later version's) are left alone, not refused
    model_config = ConfigDict(extra="ignore", frozen=True)


class DataMetadata(_Metadata):
    """The data a model was trained on (:class:`~genkit_core.interfaces.DataInfo`'s fields)."""

    shape: Annotated[tuple[Size, ...], Field(min_length=1, max_length=8)]
    num_classes: Size | None = None
    condition_dim: Size | None = None
    name: Annotated[str, Field(max_length=200)] = "data"
    train_size: Count | None = None


class PositionMetadata(_Metadata):
    """Where training stood (:class:`~genkit_core.training.checkpoint.Position`'s fields)."""

    epoch: Count = 0
    batch: Count = 0
    step: Count = 0
    skipped: Count = 0
    global_batch: Count = 0
    stopped: StrictBool = False


class WeightsMetadata(_Metadata):
    """``model.safetensors``: the data, the step and epoch the weights are from, and the
    resolved spec they were trained with (older files have none).
    """

    data: DataMetadata | None = None
    spec: dict[str, Any] | None = None
    step: Count | None = None
    epoch: Count | None = None


class CheckpointMetadata(_Metadata):
    """``checkpoint.safetensors``: format 1 (genkit 0.1, one optimiser) or 2 (one per group),
    the position, and the layout of the training state (checked as it is unflattened).
    """

    format: Literal[1, 2]
    position: PositionMetadata
    state: dict[str, Any]
    data: DataMetadata | None = None


M = TypeVar("M", bound=_Metadata)


def checked(schema: type[M], metadata: dict[str, Any], path: Path) -> M:
    """``metadata`` read from ``path``, validated by ``schema``.

    Raises:
        RunError: a field is missing or of the wrong type or range: names the file, the field
            and the value.
    """
    try:
        return schema.model_validate(metadata)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        field = ".".join(str(part) for part in error["loc"]) or "metadata"
        got = "missing" if error["type"] == "missing" else f"got {shown(error['input'], 80)}"
        raise RunError(
            f"{path}: {field} in its metadata: {error['msg'].lower()} ({got}); the file was "
            "edited or not written by genkit: restore it from a backup or train again"
        ) from None
