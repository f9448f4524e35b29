"""genkit's pytest plugin, active wherever genkit is installed: fixtures for plugin authors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ..registry import Registry
from .checks import fresh_registry, tiny_spec


@pytest.fixture
def genkit_registry() -> Registry:
    """A fresh registry of genkit's built-ins, separate from the process-wide one.

    Add your components with ``.add(Component(...))`` or ``.register_plugin(module, name)``, then
    pass it as ``registry=`` to ``load_spec``/``build_model``.
    """
    return fresh_registry()


@pytest.fixture
def genkit_tiny_spec() -> Callable[..., dict[str, Any]]:
    """Make a tiny spec (a VAE on 256 digits, one CPU epoch) with some sections replaced."""
    return tiny_spec
