"""The hookspec's docstring names every interface a component may subclass."""

from __future__ import annotations

import re

from genkit_core import hookspecs
from genkit_core.interfaces import KINDS


def test_the_hookspec_lists_the_interfaces_of_every_kind():
    """It once listed 8 and missed the posterior and the objective: it must say KINDS."""
    doc = hookspecs.genkit_components.__doc__ or ""
    listed = re.search(r"KINDS`:([^)]*)\)", doc)
    assert listed is not None, doc
    names = [name.strip() for name in listed.group(1).split(",")]
    assert names == [cls.__name__ for cls in KINDS.values()]
