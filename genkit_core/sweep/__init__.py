"""Sweeps on Optuna: a grid of spec swaps and an optional search, each trial an ordinary run
directory, run by worker processes that survive being killed. ``genkit sweep``; see
``docs/sweeps.md``.
"""

from __future__ import annotations

from .file import METRICS, SweepFile, sweep_schema
from .loading import load_sweep
from .plan import Axis, Parameter, StudyPlan, Sweep
from .runner import SweepResult, run_sweep
from .storage import open_storage
from .study import Counts, sweep_trials
from .worker import SWEEP_FILE

__all__ = [
    "METRICS",
    "SWEEP_FILE",
    "Axis",
    "Counts",
    "Parameter",
    "StudyPlan",
    "Sweep",
    "SweepFile",
    "SweepResult",
    "load_sweep",
    "open_storage",
    "run_sweep",
    "sweep_schema",
    "sweep_trials",
]
