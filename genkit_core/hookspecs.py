"""genkit's hook specifications: the extension points every plugin implements.

Built-in and third-party plugins are ordinary modules found through the ``genkit`` entry-point
group, each implementing these hooks with :data:`hookimpl`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .registry import Component

__all__ = ["PROJECT", "hookimpl", "hookspec"]

PROJECT = "genkit"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def genkit_components() -> Sequence[Component]:  # type: ignore[empty-body]  # plugins implement it
    """Return the components this plugin provides.

    Each :class:`~genkit_core.registry.Component` pairs a name (what a spec's ``type:`` says)
    with a class that subclasses one of genkit's interfaces, one per component kind
    (:data:`genkit_core.interfaces.KINDS`: Encoder, Posterior, Decoder, Prior, Divergence,
    Likelihood, Objective, Conditioner, DataSource, Logger, Callback, Metric, FeatureExtractor)
    and carries its pydantic parameter model as ``cls.Params``.

    Example::

        @hookimpl
        def genkit_components():
            return [Component("student_t", StudentT)]
    """
