"""Building blocks for plugin tests."""

from __future__ import annotations

from ..registry import Registry

__all__ = ["fresh_registry"]


def fresh_registry(*plugins: object, builtins: bool = True) -> Registry:
    """A registry of genkit's built-ins (unless ``builtins`` is false) plus the given plugins.

    Problems are not raised; inspect ``registry.problems``.
    """
    registry = Registry()
    if builtins:
        import genkit_plugins

        registry.register_plugin(genkit_plugins, name="builtins", package="genkit-lvm")
    for plugin in plugins:
        name = getattr(plugin, "__name__", type(plugin).__name__)
        registry.register_plugin(plugin, name=name)
    return registry
