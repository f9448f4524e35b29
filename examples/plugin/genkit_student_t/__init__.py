"""genkit-student-t: a Student-t likelihood and a residual MLP encoder, as a genkit plugin.

genkit imports this module through the ``genkit`` entry point named in ``pyproject.toml`` and
calls its :func:`genkit_components` hook.
"""

from __future__ import annotations

from genkit_core import Component, hookimpl

from .residual_mlp import ResidualMLPEncoder, ResidualMLPParams
from .student_t import StudentT, StudentTParams

__all__ = [
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
    ]
