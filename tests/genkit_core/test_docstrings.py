"""reST docstrings as Markdown: the formulas, roles and literals genkit's docstrings use."""

from __future__ import annotations

import pytest

from genkit_core.docstrings import one_line_summary, rst_to_markdown


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


_LONG_FORMULA = "Plus :math:`\\gamma\\, \\mathrm{KL}(q(z) \\,\\|\\, \\prod_j q(z_j))` by a critic."


def _documented(doc: str) -> type:
    return type("Documented", (), {"__doc__": doc})


@pytest.mark.parametrize(
    ("doc", "width", "summary"),
    [
        pytest.param(
            ":math:`q(z|x) = \\delta(z - c(h))`: one layer.\nIt has no density.",
            None,
            "q(z|x) = \\delta(z - c(h)): one layer.",
            id="math-to-plain",
        ),
        pytest.param(
            "The loss, per example:\n\n.. math:: -\\log p(x|z)",
            None,
            "The loss, per example.",
            id="colon-before-display-math",
        ),
        pytest.param(
            ".. math:: a = b + c\n\nMore.", 8, "a = b + c", id="opening-display-math-whole"
        ),
        pytest.param(
            "Ghosh et al. (2020, eq. 11), e.g. here. Then more.",
            None,
            "Ghosh et al. (2020, eq. 11), e.g. here.",
            id="abbreviations",
        ),
        pytest.param(
            "A :math:`x. Y` and ``a. B`` stay. Next.",
            None,
            "A x. Y and a. B stay.",
            id="no-sentence-end-inside-math-or-literal",
        ),
        pytest.param(
            _LONG_FORMULA,
            30,
            "Plus …",
            id="cut-before-a-formula-not-inside",
        ),
        pytest.param(
            _LONG_FORMULA,
            60,
            "Plus \\gamma\\, \\mathrm{KL}(q(z) \\,\\|\\, \\prod_j q(z_j)) by a …",
            id="cut-after-a-formula",
        ),
    ],
)
def test_one_line_summary(doc, width, summary):
    assert one_line_summary(_documented(doc), width) == summary
    if summary.endswith(" …"):  # cut: within the width (a single formula is never cut)
        assert len(summary) <= width


def test_genkit_plugins_prints_plain_summaries_never_cut_inside_a_formula(capsys):
    """It once printed each docstring's first line: raw ``:math:`` roles, cut mid-formula."""
    from genkit_core.cli import main

    assert main(["plugins"]) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    for row in rows:
        assert ":math:" not in row and "``" not in row, row
        summary = row.split("  ")[-1]
        assert summary.count("(") == summary.count(")") or summary.endswith(" …"), row
    beta_tc = next(row for row in rows if row.split()[:2] == ["divergence", "beta_tc"])
    assert beta_tc.endswith(
        "The KL split into three parts (Chen et al., 2018), each with its weight."
    )
    delta = next(row for row in rows if row.split()[:2] == ["posterior", "delta"])
    assert delta.endswith(
        "q(z|x) = \\delta(z - c(h)): one linear layer maps the encoder's features h to the code c."
    )
