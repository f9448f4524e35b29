"""genkit's pytest plugin, active wherever genkit is installed: fixtures for plugin authors."""

from __future__ import annotations

import pytest

from ..registry import Registry
from .checks import fresh_registry


@pytest.fixture
def genkit_registry() -> Registry:
    """A fresh registry of genkit's built-ins, separate from the process-wide one.

    Add your components with ``.add(Component(...))`` or ``.register_plugin(module, name)``.
    """
    return fresh_registry()
