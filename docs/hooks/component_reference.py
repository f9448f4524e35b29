"""MkDocs hook: the component reference, generated at build time from the installed plugins.

The pages come from :func:`genkit_core.describe.reference_pages` (the renderer that
``genkit describe`` uses too), so the site built on a machine documents every component
registered there, third-party plugins included, and every kind in ``genkit_core.interfaces.KINDS``.
"""

from __future__ import annotations

from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

from genkit_core.describe import ReferencePage, reference_pages
from genkit_core.registry import get_registry

FOLDER = "reference/components"
_pages: list[ReferencePage] = []


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    """Generate the pages and list them in the navigation in place of the overview's entry."""
    _pages[:] = reference_pages(get_registry())
    overview = f"{FOLDER}/index.md"
    entries = [{page.title: f"{FOLDER}/{page.path}"} for page in _pages]
    config.nav = [_expand(item, overview, entries) for item in config.nav or []]
    return config


def _expand(item: Any, overview: str, entries: list[dict[str, str]]) -> Any:
    if isinstance(item, dict) and len(item) == 1:
        ((title, target),) = item.items()
        if target == overview:
            return {title: entries}
        if isinstance(target, list):
            return {title: [_expand(child, overview, entries) for child in target]}
    return item


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the generated pages to the site."""
    for page in _pages:
        files.append(File.generated(config, f"{FOLDER}/{page.path}", content=page.text))
    return files
