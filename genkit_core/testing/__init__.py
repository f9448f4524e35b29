"""Helpers for testing genkit plugins (also loaded as a pytest plugin: ``genkit_registry``)."""

from .checks import TINY_SPEC, fresh_registry, tiny_spec
from .contract import DEFAULT_CONTEXT, check_component
from .factor_images import FactorImages

__all__ = [
    "DEFAULT_CONTEXT",
    "TINY_SPEC",
    "FactorImages",
    "check_component",
    "fresh_registry",
    "tiny_spec",
]
