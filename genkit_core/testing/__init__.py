"""Helpers for testing genkit plugins (also loaded as a pytest plugin: ``genkit_registry``)."""

from .checks import fresh_registry

__all__ = ["fresh_registry"]
