"""A checked sweep: its trials' specs and names, and the Optuna studies that run them.

A grid alone is one study whose :class:`~optuna.samplers.GridSampler` visits every combination
once. A search alone is one study of ``trials`` trials drawn by a seeded
:class:`~optuna.samplers.TPESampler`. Both together tune each grid cell on its own: one study
per cell (``<name>/<cell>``), each with ``trials`` TPE trials and the cell's values fixed, so every
configuration of the grid is compared at its own best setting of the searched keys.
"""

from __future__ import annotations

import copy
import itertools
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from ..spec import set_field
from .file import Choice, IntRange, LogInt, LogUniform, Uniform
from .naming import trial_name, value_label, value_labels

__all__ = ["Axis", "Parameter", "StudyPlan", "Sweep"]

_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Axis:
    """The values one key takes, and what Optuna records for each: the value itself when it is
    a scalar, else its label (Optuna's categorical choices must be scalars).
    """

    key: str
    values: tuple[Any, ...]
    labels: tuple[str, ...]

    @classmethod
    def of(cls, key: str, values: list[Any]) -> Axis:
        """The axis of ``key`` over ``values``, each labelled (see :func:`value_labels`)."""
        return cls(key, tuple(values), tuple(value_labels(values)))

    @property
    def choices(self) -> list[Any]:
        """What Optuna records for each value."""
        if all(isinstance(v, _SCALARS) for v in self.values):
            return list(self.values)
        return list(self.labels)

    def index(self, choice: Any) -> int:
        """The position of a recorded choice (``1`` and ``True`` are told apart)."""
        for i, c in enumerate(self.choices):
            if type(c) is type(choice) and c == choice:
                return i
        raise KeyError(f"{self.key}: {choice!r} is not one of {self.choices}")


@dataclass(frozen=True)
class Parameter:
    """A searched key: its Optuna distribution (and, for a ``choice``, the values' axis)."""

    key: str
    distribution: BaseDistribution
    axis: Axis | None = None

    @classmethod
    def of(cls, key: str, dist: Any) -> Parameter:
        """The parameter of a ``search:`` entry (a range that ``step`` does not divide ends at
        its last step, as Optuna's warning that says so would not name the key).
        """
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return cls._of(key, dist)

    @classmethod
    def _of(cls, key: str, dist: Any) -> Parameter:
        if isinstance(dist, Choice):
            axis = Axis.of(key, dist.choice)
            return cls(key, CategoricalDistribution(axis.choices), axis)
        if isinstance(dist, Uniform):
            return cls(key, FloatDistribution(*dist.uniform, step=dist.step))
        if isinstance(dist, LogUniform):
            return cls(key, FloatDistribution(*dist.log_uniform, log=True))
        if isinstance(dist, IntRange):
            return cls(key, IntDistribution(*dist.int, step=dist.step))
        assert isinstance(dist, LogInt)
        return cls(key, IntDistribution(*dist.log_int, log=True))

    def value(self, recorded: Any) -> Any:
        """The spec value of what Optuna recorded."""
        return recorded if self.axis is None else self.axis.values[self.axis.index(recorded)]

    def label(self, recorded: Any) -> str:
        """How a trial name shows the value: 3 significant digits for a float."""
        if self.axis is not None:
            return self.axis.labels[self.axis.index(recorded)]
        return f"{recorded:.3g}" if isinstance(recorded, float) else value_label(recorded)

    def extremes(self) -> list[Any]:
        """The values to check a spec with: both ends, or every choice."""
        if self.axis is not None:
            return list(self.axis.values)
        d = self.distribution
        return [d.low, d.high]  # type: ignore[attr-defined]


@dataclass(frozen=True)
class StudyPlan:
    """One Optuna study of a sweep: its name, how many trials it runs, the grid values fixed
    for all of them (a cell, when grid and search combine) and the distributions drawn.
    """

    name: str
    budget: int
    fixed: dict[str, Any]
    distributions: dict[str, BaseDistribution]
    grid: dict[str, list[Any]] | None = None
    seed: int = 0

    def sampler(self, trial: int = 0) -> optuna.samplers.BaseSampler:
        """A sampler for drawing the study's trial number ``trial`` (samplers are not stored;
        every worker makes its own).

        The grid's is seeded alike everywhere, as its seed orders the cells. The TPE sampler of
        trial k is seeded by (seed, k): workers do not draw the same values, and a sweep run by
        one worker draws the same values every time. One sampler kept for all of a worker's trials
        would draw values that depend on which trials that worker happened to run. Making one
        per trial is cheap: TPE keeps nothing but its random state, and reads the trials from
        the storage at each draw.
        """
        if self.grid is not None:
            return _GridSampler(self.grid, seed=self.seed)
        return optuna.samplers.TPESampler(seed=(self.seed * 1_000_003 + trial) % 2**32)


class _GridSampler(optuna.samplers.GridSampler):
    """GridSampler without its stop at the last cell: ``Study.stop`` raises outside
    ``Study.optimize`` (optuna issues #4121, #5141), and a sweep counts its trials itself.
    """

    def after_trial(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass(frozen=True)
class Sweep:
    """A validated sweep (see :func:`~genkit_core.sweep.load_sweep`).

    Attributes:
        name: the study's name (cells add ``/<cell>``).
        base: the base spec as written (a valid spec).
        defaults: the base spec resolved, every default written out: a swap of
            ``divergence.beta`` into a base that leaves ``divergence`` to its default starts
            from the default section.
        grid: the grid's keys and values, in the file's order.
        search: the searched keys, in the file's order (empty without ``search:``).
        trials: trials per study of a search.
        metric: what each trial tells Optuna (``test_loss`` for a grid alone).
        direction: ``minimize`` or ``maximize``.
        seed: the TPE sampler's seed.
        pruner: the search's pruner section (``type`` and its settings); None for none.
        iw_samples: K for each trial's importance-weighted -log p(x).
    """

    name: str
    base: dict[str, Any]
    defaults: dict[str, Any]
    grid: tuple[Axis, ...] = ()
    search: tuple[Parameter, ...] = ()
    trials: int = 0
    metric: str = "test_loss"
    direction: Literal["minimize", "maximize"] = "minimize"
    seed: int = 0
    pruner: dict[str, Any] | None = None
    iw_samples: int = 100
    source: str | None = field(default=None, compare=False)

    def cells(self) -> list[dict[str, Any]]:
        """Every combination of the grid, as ``{key: recorded choice}`` (one empty cell when
        there is no grid).
        """
        keys = [a.key for a in self.grid]
        return [
            dict(zip(keys, combo, strict=True))
            for combo in itertools.product(*(a.choices for a in self.grid))
        ]

    def studies(self) -> list[StudyPlan]:
        """The Optuna studies that run the sweep (see the module's docstring)."""
        if not self.search:
            grid = {a.key: a.choices for a in self.grid}
            categorical: dict[str, BaseDistribution]
            categorical = {k: CategoricalDistribution(v) for k, v in grid.items()}
            cells = math.prod(len(a.values) for a in self.grid)
            return [StudyPlan(self.name, cells, {}, categorical, grid, self.seed)]
        dists = {p.key: p.distribution for p in self.search}
        if not self.grid:
            return [StudyPlan(self.name, self.trials, {}, dists, seed=self.seed)]
        return [
            StudyPlan(f"{self.name}/{self._name(cell)}", self.trials, cell, dists, seed=self.seed)
            for cell in self.cells()
        ]

    def spec(self, params: Mapping[str, Any], name: str | None = None) -> dict[str, Any]:
        """The spec of the trial with these recorded ``params`` (grid and searched keys)."""
        spec = copy.deepcopy(self.base)
        swaps = [(a.key, a.values[a.index(params[a.key])]) for a in self.grid]
        swaps += [(p.key, p.value(params[p.key])) for p in self.search]
        for key, value in swaps:
            self.swap(spec, key, value)
        spec["name"] = name if name is not None else self.trial_name(params)
        return spec

    def swap(self, spec: dict[str, Any], key: str, value: Any) -> None:
        """Set ``key`` of ``spec`` to ``value``; a key inside a section the spec leaves to its
        default (``divergence.beta``) starts from that default section.
        """
        section = key.split(".")[0]
        if "." in key and spec.get(section) is None and self.defaults.get(section) is not None:
            spec[section] = copy.deepcopy(self.defaults[section])
        set_field(spec, key, value)

    def trial_name(self, params: Mapping[str, Any], number: int | None = None) -> str:
        """``likelihood=bernoulli,divergence.beta=4,seed=0``; a searched trial adds ``trial=N``,
        its number in its study, as its drawn values alone need not be unique.
        """
        parts = self._parts(params)
        if self.search and number is not None:
            parts.append(("trial", str(number)))
        return trial_name(parts)

    def _name(self, params: Mapping[str, Any]) -> str:
        return trial_name(self._parts(params))

    def _parts(self, params: Mapping[str, Any]) -> list[tuple[str, str]]:
        parts = [(a.key, a.labels[a.index(params[a.key])]) for a in self.grid if a.key in params]
        parts += [(p.key, p.label(params[p.key])) for p in self.search if p.key in params]
        return parts

    def as_dict(self) -> dict[str, Any]:
        """The sweep as a file with its base inline: ``DIR/sweep.yaml``."""
        data: dict[str, Any] = {"name": self.name, "base": self.base}
        if self.grid:
            data["grid"] = {a.key: list(a.values) for a in self.grid}
        if self.search:
            search: dict[str, Any] = {}
            for p in self.search:
                search[p.key] = _distribution_dict(p)
            search.update(
                trials=self.trials, metric=self.metric, direction=self.direction, seed=self.seed
            )
            if self.pruner is not None:  # absent for none: sweeps made before pruners match
                search["pruner"] = dict(self.pruner)
            data["search"] = search
        data["iw_samples"] = self.iw_samples
        return data


def _distribution_dict(p: Parameter) -> dict[str, Any]:
    d = p.distribution
    if p.axis is not None:
        return {"choice": list(p.axis.values)}
    if isinstance(d, FloatDistribution):
        if d.log:
            return {"log_uniform": [d.low, d.high]}
        return {"uniform": [d.low, d.high], **({"step": d.step} if d.step else {})}
    assert isinstance(d, IntDistribution)
    if d.log:
        return {"log_int": [d.low, d.high]}
    return {"int": [d.low, d.high], **({"step": d.step} if d.step != 1 else {})}
