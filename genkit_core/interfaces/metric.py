r"""Metric: a score of a trained model, computed by ``genkit eval RUN --metric NAME``.

A metric is a component like any other (``--metric mig`` or ``--metric '{type: dci,
num_train: 2000}'``), registered through the ``genkit`` entry point. genkit loads the run's
model and data, seeds a ``numpy.random.Generator`` from the metric's ``seed``, calls the metric
once and keeps its scores in the run's ``eval.json`` (``metrics.<name>.scores``), where
``genkit compare`` shows them as columns ``<name>.<score>`` and ``genkit sweep`` may optimise
one (``search.metric: mig.discrete_mig``).

A metric that reads the data's true factors (the disentanglement metrics) sets
``needs_factors``; genkit then refuses, in one line, data that has none, and gives the metric
the data source as a :class:`~genkit_core.GroundTruthData`.

Example::

    class MeanCode(Metric):
        '''The mean absolute code of the test split.'''

        scores = ("mean_abs_code",)

        def __call__(self, model, data, random_state):
            x = data.bundle.test.x[:1000]
            return {"mean_abs_code": float(self.codes(model, x).abs().mean())}
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import numpy as np
import torch
from pydantic import BaseModel, Field

from .data import DataBundle, GroundTruthData
from .params import Params

if TYPE_CHECKING:
    from ..model import LatentVariableModel

__all__ = ["Metric", "MetricData", "MetricParams", "provides_factors"]


class MetricParams(Params):
    """Options every metric takes."""

    seed: Annotated[int, Field(ge=0, lt=2**32)] = Field(
        0, description="Seeds the metric's draws (the random_state it is given)."
    )


class MetricData:
    """What a metric may read of the run's data.

    Attributes:
        name: the data's ``type`` (``dsprites``), for messages.
        factors: the data source when it has ground-truth factors
            (:class:`~genkit_core.GroundTruthData`), else None; never None for a metric that
            sets ``needs_factors``.
        run_dir: the run directory being measured (None for a model measured outside a run),
            where a metric finds the priors fitted to the run afterwards (``RUN/priors/NAME``).
    """

    def __init__(
        self,
        name: str,
        load: Callable[[], DataBundle],
        factors: GroundTruthData | None = None,
        run_dir: Path | None = None,
    ):
        self.name = name
        self.factors = factors
        self.run_dir = run_dir
        self._load = load

    @cached_property
    def bundle(self) -> DataBundle:
        """Both splits as the run was trained on them (genkit's data options applied), loaded
        on first use: a metric that only draws from :attr:`factors` never loads them.
        """
        return self._load()


class Metric(ABC):
    """A score of a trained model: a dict of named numbers.

    Class attributes:
        needs_factors: the metric reads the data's true factors (``data.factors``).
        higher_is_better: the direction a sweep optimises its scores in by default.
        scores: the names of the scores it returns (``genkit sweep`` checks
            ``search.metric: <name>.<score>`` against them).

    Args:
        params: the validated spec of the metric (``{type: mig, num_train: 10000}``).
    """

    kind: ClassVar[str] = "metric"
    Params: ClassVar[type[BaseModel]] = MetricParams
    needs_factors: ClassVar[bool] = False
    higher_is_better: ClassVar[bool] = True
    scores: ClassVar[tuple[str, ...]] = ()

    def __init__(self, params: BaseModel):
        self.params = params

    @classmethod
    def key(cls, params: BaseModel) -> str:
        """What ``eval.json`` keeps the scores under and ``genkit compare`` prefixes their
        columns with: the metric's type (``mig``); a metric that can measure one of several
        things of a run names it too (``fd@code_maf``: the Fréchet distance of the draws from
        the prior fitted as ``code_maf``), so that each keeps its own scores.
        """
        return str(params.type)  # type: ignore[attr-defined]

    @abstractmethod
    def __call__(
        self, model: LatentVariableModel, data: MetricData, random_state: np.random.Generator
    ) -> dict[str, float]:
        """The scores of ``model``.

        Args:
            model: the trained model, in eval mode, on the device genkit eval was given.
            data: the run's data: its splits (``data.bundle``) and, where it has them, its
                factors (``data.factors``, a :class:`~genkit_core.GroundTruthData` to draw
                factor classes and observations of them from).
            random_state: every draw's generator, seeded from ``params.seed`` (a metric that
                needs a torch generator seeds one from ``random_state.integers(2**63)``).

        Returns:
            Score name -> finite number.
        """

    @staticmethod
    def codes(model: LatentVariableModel, observations: Any) -> torch.Tensor:
        """The model's codes (its posterior means) ``(B, D)`` of ``observations`` ``(B, *shape)``
        (a tensor or NumPy array, ``uint8`` read as [0, 1], reshaped to what the model takes),
        without gradients.
        """
        from ..data import as_float  # the data package imports the interfaces

        device = next(model.parameters()).device
        x = torch.as_tensor(observations).to(device)
        x = as_float(x).reshape(len(x), *model.data_info.shape)
        with torch.no_grad():
            return model.encode(x).flatten(1)


_GROUND_TRUTH = (
    "factor_names",
    "factor_sizes",
    "sample_factors",
    "sample_observations_from_factors",
)


def provides_factors(source: object) -> bool:
    """Whether a data source has ground-truth factors (is a
    :class:`~genkit_core.GroundTruthData`), decided without calling anything: ``isinstance``
    would evaluate its properties, which may load or generate the data.
    """
    missing = object()
    return all(
        inspect.getattr_static(source, name, missing) is not missing for name in _GROUND_TRUTH
    )
