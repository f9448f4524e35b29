"""Building blocks for plugin tests: a fresh registry and a tiny spec to train."""

from __future__ import annotations

import copy
from typing import Any

from .._version import DISTRIBUTION
from ..registry import ENTRY_POINT_GROUP, Registry

__all__ = ["TINY_SPEC", "fresh_registry", "tiny_spec"]

TINY_SPEC: dict[str, Any] = {
    "model": "vae",
    "latent_dim": 4,
    "data": {"type": "digits", "max_train": 256, "max_test": 64},
    "encoder": {"type": "mlp", "hidden": [32]},
    "decoder": {"type": "mlp", "hidden": [32]},
    "likelihood": {"type": "bernoulli"},
    "train": {"epochs": 1, "batch_size": 64, "seed": 0, "device": "cpu", "progress": False},
}
"""A VAE on 256 bundled digits for one epoch on the CPU: trains in about a second."""


def fresh_registry(*plugins: object, builtins: bool = True) -> Registry:
    """A registry of genkit's built-ins (unless ``builtins`` is false) plus the given plugins.

    Problems are not raised; inspect ``registry.problems``.
    """
    registry = Registry()
    if builtins:
        registry.load_entry_points(ENTRY_POINT_GROUP, distribution=DISTRIBUTION)
    for plugin in plugins:
        name = getattr(plugin, "__name__", type(plugin).__name__)
        registry.register_plugin(plugin, name=name)
    return registry


def tiny_spec(**sections: Any) -> dict[str, Any]:
    """:data:`TINY_SPEC` with top-level sections replaced, e.g. ``likelihood={"type": "x"}``."""
    spec = copy.deepcopy(TINY_SPEC)
    spec.update(copy.deepcopy(sections))
    return spec
