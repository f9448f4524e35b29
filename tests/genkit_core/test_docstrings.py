"""reST docstrings as Markdown: the formulas, roles and literals genkit's docstrings use."""

from __future__ import annotations

import pytest

from genkit_core.docstrings import rst_to_markdown


@pytest.mark.parametrize(
    ("rst", "markdown"),
    [
        pytest.param(r"a :math:`\beta` b", r"a $\beta$ b", id="inline-math"),
        pytest.param(":math:`x = 1\n  + y`.", "$$x = 1 + y$$.", id="paragraph-math"),
        pytest.param("``F.mse_loss``", "`F.mse_loss`", id="literal"),
        pytest.param(":class:`~genkit_core.Params`", "`Params`", id="role-tilde"),
        pytest.param(":func:`genkit_core.build`", "`genkit_core.build`", id="role-full"),
        pytest.param("``a`` :math:`x_1` ``b``", "`a` $x_1$ `b`", id="literal-beside-math"),
        pytest.param(".. math::\n    a = b\n      + c", "$$\na = b\n  + c\n$$", id="math-block"),
        pytest.param("Example::\n\n    x: 1", "Example:\n\n```\nx: 1\n```", id="literal-block"),
    ],
)
def test_rst_to_markdown(rst, markdown):
    assert rst_to_markdown(rst) == markdown
