"""The sweep file's schema: a base spec, a grid of swaps and an optional search.

.. code-block:: yaml

    name: terms                     # the Optuna study (default: the file's name)
    base: vae.yaml                  # a spec file (relative to this file) or an inline spec
    grid:                           # dotted spec keys -> the values to try, all combinations
      likelihood: [{type: bernoulli}, {type: gaussian}]
      divergence.beta: [1.0, 4.0]
      train.seed: [0, 1, 2]
    search:                         # optional: Optuna tunes these (TPE), `trials` per grid cell
      train.lr: {log_uniform: [1.0e-4, 1.0e-2]}
      trials: 20
      metric: iw_nll                # iw_nll | negative_elbo | test_loss | <metric>.<score>
      direction: minimize           # default: minimize, or the metric's own direction
      pruner: median                # none (default) | median | hyperband: stop poor trials early
    iw_samples: 100                 # K of each trial's importance-weighted -log p(x)

Unknown keys are errors, as in a spec; :mod:`genkit_core.sweep.loading` checks the swaps against
the spec schema as well.
"""

from __future__ import annotations

import builtins
import difflib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ..spec import ModelSpec

__all__ = [
    "DISTRIBUTIONS",
    "METRICS",
    "Choice",
    "Distribution",
    "HyperbandPruner",
    "IntRange",
    "LogInt",
    "LogUniform",
    "MedianPruner",
    "NoPruner",
    "Pruner",
    "SearchSection",
    "SweepFile",
    "Uniform",
]

METRICS = ("iw_nll", "negative_elbo", "test_loss")
"""What a search may optimise, besides a metric component's score (``mig.discrete_mig``): per
test example, in nats (see ``docs/sweeps.md``)."""

_SEARCH_FIELDS = ("trials", "metric", "direction", "seed", "pruner")
_SCORE = re.compile(r"[a-z][a-z0-9_]*\.[A-Za-z0-9_.-]+")
"""``<metric>.<score>``: a metric component's score (load_sweep checks the metric exists)."""


_MAX_STEPS = 10**12
"""The most steps a ``uniform`` range may have (Optuna rounds its ends in 28-digit decimals)."""


class _Distribution(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="after")
    def _low_before_high(self) -> _Distribution:
        bounds = getattr(self, next(iter(type(self).model_fields)))
        if isinstance(bounds, tuple) and bounds[0] > bounds[1]:
            raise ValueError(f"[low, high] must have low <= high, got {list(bounds)}")
        return self


class Uniform(_Distribution):
    """A float drawn uniformly from ``[low, high]`` (on a grid of ``step`` when given)."""

    uniform: tuple[float, float]
    step: Annotated[float, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _steps_are_countable(self) -> Uniform:
        low, high = self.uniform
        if self.step is not None and (high - low) / self.step > _MAX_STEPS:
            raise _at(
                "step",
                f"{self.step:g} cuts [{low:g}, {high:g}] into more than {_MAX_STEPS:.0e} steps; "
                "use a larger step, or leave step out for any float in the range",
            )
        return self


class LogUniform(_Distribution):
    """A positive float drawn uniformly in log space: learning rates, weights."""

    log_uniform: tuple[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]]


class IntRange(_Distribution):
    """An integer from ``[low, high]`` in steps of ``step``."""

    int: tuple[int, int]
    step: Annotated[builtins.int, Field(gt=0)] = 1  # int is the field above


class LogInt(_Distribution):
    """A positive integer drawn uniformly in log space: widths, latent sizes."""

    log_int: tuple[Annotated[int, Field(gt=0)], Annotated[int, Field(gt=0)]]


class Choice(_Distribution):
    """One of a list of values; a value may be a whole section, as in a grid."""

    choice: Annotated[list[Any], Field(min_length=1, max_length=10_000)]


DISTRIBUTIONS: dict[str, type[_Distribution]] = {
    "uniform": Uniform,
    "log_uniform": LogUniform,
    "int": IntRange,
    "log_int": LogInt,
    "choice": Choice,
}


def _distribution_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        kinds = [k for k in value if k in DISTRIBUTIONS]
        return kinds[0] if len(kinds) == 1 else None
    return next((k for k, cls in DISTRIBUTIONS.items() if isinstance(value, cls)), None)


def _tagged_union(
    table: dict[str, type], kind: Callable[[Any], str | None], error: str, message: str
) -> Any:
    """The union of ``table``'s models, told apart by ``kind``; a value none fits is one
    error of type ``error`` saying ``message``.
    """
    members = tuple(Annotated[cls, Tag(name)] for name, cls in table.items())
    return Annotated[
        Union[members],  # noqa: UP007 - built from a table
        Discriminator(kind, custom_error_type=error, custom_error_message=message),
    ]


if TYPE_CHECKING:  # the union the table builds below
    Distribution: TypeAlias = Uniform | LogUniform | IntRange | LogInt | Choice
else:
    Distribution = _tagged_union(
        DISTRIBUTIONS, _distribution_kind, "distribution",
        "must be one distribution: {uniform: [low, high]}, {log_uniform: [low, high]}, "
        "{int: [low, high]}, {log_int: [low, high]} or {choice: [a, b, ...]}",
    )  # fmt: skip
"""A search parameter's distribution, one key naming its kind."""


class NoPruner(BaseModel):
    """Every trial trains all its epochs (Optuna's ``NopPruner``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["none"] = "none"


class MedianPruner(BaseModel):
    """Stop a trial whose test loss at an epoch is worse than the median of the earlier trials'
    at that epoch (Optuna's ``MedianPruner``; its steps are epochs).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["median"] = "median"
    n_startup_trials: Annotated[int, Field(ge=0, le=100_000)] = Field(
        5, description="Trials that run all their epochs before any is pruned."
    )
    n_warmup_steps: Annotated[int, Field(ge=0, le=1_000_000)] = Field(
        0, description="Epochs of every trial during which it is never pruned."
    )


class HyperbandPruner(BaseModel):
    """Successive halving in brackets (Optuna's ``HyperbandPruner``; its resource is epochs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["hyperband"] = "hyperband"
    min_resource: Annotated[int, Field(ge=1, le=1_000_000)] = Field(
        1, description="Epochs every trial trains before it may be pruned."
    )
    max_resource: Annotated[int, Field(ge=1, le=1_000_000)] | Literal["auto"] = Field(
        "auto",
        description="Epochs of a whole trial; auto: train.epochs (where a grid or the search "
        "changes it, the epochs of the first trial to finish).",
    )
    reduction_factor: Annotated[int, Field(ge=2, le=1_000)] = Field(
        3, description="1 in reduction_factor trials goes on at each rung."
    )

    @field_validator("max_resource", mode="before")
    @classmethod
    def _epochs_or_auto(cls, value: Any) -> Any:
        if isinstance(value, str) and value != "auto":
            raise ValueError(f"must be a number of epochs or auto, got {value!r}")
        return value


_PRUNERS: dict[str, type[BaseModel]] = {
    "none": NoPruner,
    "median": MedianPruner,
    "hyperband": HyperbandPruner,
}


def _pruner_kind(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if kind in _PRUNERS else None


if TYPE_CHECKING:
    Pruner: TypeAlias = NoPruner | MedianPruner | HyperbandPruner
else:
    Pruner = _tagged_union(
        _PRUNERS, _pruner_kind, "pruner",
        "must be none, median or hyperband, alone or as {type: median, <its settings>}",
    )  # fmt: skip
"""What stops poor trials of a search early: ``none``, ``median`` or ``hyperband``, named alone
(``pruner: median``) or with its settings (``pruner: {type: median, n_startup_trials: 3}``).
"""


class SearchSection(BaseModel):
    """What Optuna tunes: ``trials`` trials (per grid cell) of a TPE sampler seeded by ``seed``,
    minimising or maximising ``metric``, poor ones stopped early by ``pruner``; every other key
    is a dotted spec key and its distribution.
    """

    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[str, Distribution] = Field(init=False)

    trials: Annotated[int, Field(gt=0, le=100_000)]
    metric: str = "iw_nll"
    direction: Literal["minimize", "maximize"] | None = None
    seed: Annotated[int, Field(ge=0, lt=2**32)] = 0
    pruner: Pruner = NoPruner()

    @field_validator("pruner", mode="before")
    @classmethod
    def _pruner_by_name(cls, value: Any) -> Any:
        return {"type": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _pruner_minimises(self) -> SearchSection:
        if self.pruner.type != "none" and self.direction == "maximize":
            raise _at(
                "pruner",
                f"the {self.pruner.type} pruner compares test losses, lower is better; use it "
                "with direction: minimize, or set pruner: none",
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def _keys_are_fields_or_spec_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for key in data:
            if not isinstance(key, str) or key in _SEARCH_FIELDS or _is_spec_key(key):
                continue
            close = difflib.get_close_matches(key, _SEARCH_FIELDS, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise _at(
                key,
                f"unknown field '{key}'; {hint}search takes {', '.join(_SEARCH_FIELDS)} and "
                "dotted spec keys with a distribution, e.g. train.lr: {log_uniform: [1e-4, 0.01]}",
            )
        if not any(isinstance(k, str) and _is_spec_key(k) for k in data):
            raise ValueError(
                "names no parameter to tune; add one, e.g. train.lr: {log_uniform: [1.0e-4, 0.01]}"
            )
        return data

    @field_validator("metric")
    @classmethod
    def _metric_is_a_measure_or_a_score(cls, metric: str) -> str:
        if metric in METRICS or _SCORE.fullmatch(metric):
            return metric
        close = difflib.get_close_matches(metric, METRICS, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise ValueError(
            f"unknown metric '{metric}'; {hint}use {', '.join(METRICS)} or a metric's score as "
            "<metric>.<score>, e.g. mig.discrete_mig (genkit plugins lists the metrics)"
        )

    @property
    def params(self) -> dict[str, _Distribution]:
        """Dotted spec key -> its distribution, in the file's order."""
        return dict(self.__pydantic_extra__ or {})


class SweepFile(BaseModel):
    """A sweep file as written: see the module's docstring."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")] | None = None
    base: Union[Annotated[str, Field(min_length=1)], dict[str, Any]]  # noqa: UP007 - schema order
    grid: dict[str, Annotated[list[Any], Field(min_length=1, max_length=10_000)]] = Field(
        default_factory=dict
    )
    search: SearchSection | None = None
    iw_samples: Annotated[int, Field(ge=0, le=1_000_000)] = 100

    @field_validator("grid")
    @classmethod
    def _grid_keys_are_spec_keys(cls, grid: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key in grid:
            if not _is_spec_key(key):
                fields = ", ".join(ModelSpec.model_fields)
                raise _at(
                    key,
                    f"'{key}' is not a spec key: a spec field ({fields}) or a dotted path under "
                    "one, e.g. divergence.beta",
                )
            if key == "name":
                raise _at(key, "'name' is set to each trial's name; sweep other fields")
        return grid

    @model_validator(mode="after")
    def _something_to_sweep(self) -> SweepFile:
        if not self.grid and self.search is None:
            raise ValueError(
                "nothing to sweep: add grid: (values to try) or search: (values to tune)"
            )
        both = sorted(set(self.grid) & set(self.search.params if self.search else {}))
        if both:
            raise ValueError(f"{both[0]} is in both grid and search; keep it in one of them")
        return self


def _at(field: str, message: str) -> PydanticCustomError:
    """An error about ``field`` below the section being validated (pydantic's ``loc`` ends at
    the section).
    """
    return PydanticCustomError("sweep_field", "{message}", {"field": field, "message": message})


def _is_spec_key(key: str) -> bool:
    """A spec field, or a dotted path under one: ``likelihood``, ``divergence.beta``."""
    parts = key.split(".")
    return all(parts) and parts[0] in ModelSpec.model_fields


def sweep_schema(spec_schema: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of sweep files, whose ``base`` is a spec file's path or ``spec_schema``."""
    schema = SweepFile.model_json_schema()
    defs = schema.setdefault("$defs", {})
    defs.update(spec_schema.pop("$defs", {}))
    defs["ModelSpec"] = spec_schema
    schema["properties"]["base"] = {
        "title": "Base",
        "description": "the spec every trial starts from: a file (relative to the sweep file) "
        "or the spec itself",
        "anyOf": [{"type": "string", "minLength": 1}, {"$ref": "#/$defs/ModelSpec"}],
    }
    pruner = schema["$defs"]["SearchSection"]["properties"]["pruner"]
    pruner.pop("discriminator", None)  # the name alone is a pruner too
    pruner["oneOf"] = [{"enum": ["none", "median", "hyperband"]}, *pruner["oneOf"]]
    pruner["description"] = (
        "what stops poor trials early: none, median or hyperband, or {type: ..., settings}"
    )
    schema["properties"]["grid"]["description"] = (
        "dotted spec key -> list of values (a value may be a whole section); every combination "
        "is a trial"
    )
    return schema
