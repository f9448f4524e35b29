"""genkit-student-t: a Student-t likelihood, a residual MLP encoder and a callback that logs
active units, as a genkit plugin.

genkit imports this module through the ``genkit`` entry point named in ``pyproject.toml`` and
calls its :func:`genkit_components` hook.
"""

from __future__ import annotations

from genkit_core import Component, hookimpl

from .active_units_log import ActiveUnitsLog, ActiveUnitsParams
from .residual_mlp import ResidualMLPEncoder, ResidualMLPParams
from .student_t import StudentT, StudentTParams

__all__ = [
    "ActiveUnitsLog",
    "ActiveUnitsParams",
    "ResidualMLPEncoder",
    "ResidualMLPParams",
    "StudentT",
    "StudentTParams",
    "genkit_components",
]


@hookimpl
def genkit_components() -> list[Component]:
    """The components this package provides; specs name them with ``type:``."""
    return [
        Component("student_t", StudentT),
        Component("residual_mlp", ResidualMLPEncoder),
        Component("active_units_log", ActiveUnitsLog),
    ]
