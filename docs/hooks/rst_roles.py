"""Griffe extension: docstrings' reST (``:math:``, ``:class:``, double backticks) as Markdown.

genkit's docstrings are written for a terminal and for Sphinx-style readers; the API reference
renders them through the same conversion as the component reference
(:func:`genkit_core.docstrings.rst_to_markdown`).
"""

from __future__ import annotations

from typing import Any

import griffe

from genkit_core.docstrings import rst_to_markdown


class RstRoles(griffe.Extension):
    """Rewrite every docstring of the loaded objects once they exist."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
