"""The component reference: parameters, example lines, pages and ``genkit describe``."""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from typing import Annotated, ClassVar, Literal

import pytest
import yaml
from pydantic import BaseModel, Field
from torch import Tensor, nn

from genkit_core import KINDS, Component, Likelihood, Params
from genkit_core.cli import main
from genkit_core.describe import component_markdown, component_text, describe, reference_pages
from genkit_core.fields import ParameterDoc, parameters
from genkit_core.interfaces import COMPONENT_KINDS
from genkit_core.registry import get_registry
from genkit_core.spec import TrainSpec, spec_model


class _Inner(Params):
    rate: Annotated[float, Field(gt=0, le=1)] = Field(0.5, description="How fast.")


class _SketchParams(Params):
    path: str = Field(description="Where it is.", examples=["data/x.npz"])
    widths: Annotated[list[Annotated[int, Field(gt=0)]], Field(max_length=4)] = Field(
        default_factory=lambda: [8, 4], description="Layer widths."
    )
    mode: Literal["fast", "exact"] = Field("fast", description="Which | way.")
    limit: Annotated[int, Field(ge=2, lt=10**6)] | None = Field(None, description="A cap.")
    inner: _Inner | None = Field(None, description="Nested options.")


class _Sketch(Likelihood):
    r"""A sketch likelihood with :math:`\log p(x|\mu) = -\|x - \mu\|^2`.

    Uses ``torch`` and :class:`~genkit_core.Params` to work.

    Args:
        params: not shown in the reference.
    """

    Params = _SketchParams

    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        return -(x - params[:, 0]).square().flatten(1).sum(1)

    def mean(self, params: Tensor) -> Tensor:
        return params[:, 0]

    def sample(self, params: Tensor) -> Tensor:
        return params[:, 0]


@pytest.fixture
def sketch(builtins_registry):
    builtins_registry.add(Component("sketch", _Sketch), plugin="mine", package="my-pkg 1.2")
    return builtins_registry


def test_parameters_give_type_default_constraints_and_description():
    rows = {p.name: p for p in parameters(_SketchParams)}
    assert list(rows) == ["path", "widths", "mode", "limit", "inner", "inner.rate"]
    assert rows["path"] == ParameterDoc("path", "str", "required", "", "Where it is.")
    assert rows["widths"] == ParameterDoc(
        "widths", "list[int]", "[8, 4]", "at most 4 long, each item > 0", "Layer widths."
    )
    assert rows["mode"] == ParameterDoc("mode", "fast | exact", "fast", "", "Which | way.")
    limit = ParameterDoc("limit", "int | null", "null", "≥ 2, < 1,000,000", "A cap.")
    assert rows["limit"] == limit
    assert rows["inner"].type == "_Inner | null"
    assert rows["inner.rate"] == ParameterDoc("inner.rate", "float", "0.5", "> 0, ≤ 1", "How fast.")


def test_train_section_nests_its_models_and_their_lists():
    names = [p.name for p in parameters(TrainSpec)]
    assert {"optimizer.betas", "schedule.type", "schedule.stages[].length"} <= set(names)
    betas = next(p for p in parameters(TrainSpec) if p.name == "optimizer.betas")
    assert betas.default == "[0.9, 0.999]"
    assert betas.constraints == "each item ≥ 0, each item < 1"


def test_describe_a_plugins_component(sketch):
    doc = describe(sketch.get("likelihood", "sketch"))
    assert (doc.kind, doc.name, doc.package) == ("likelihood", "sketch", "my-pkg 1.2")
    assert doc.summary == r"A sketch likelihood with $\log p(x|\mu) = -\|x - \mu\|^2$."
    assert doc.details == "Uses `torch` and `Params` to work."  # no Args: section
    # required keys show their example; None defaults are left out
    assert doc.example == (
        "likelihood: {type: sketch, path: data/x.npz, widths: [8, 4], mode: fast}"
    )
    assert doc.common == []


def test_the_kinds_common_options_are_listed_apart(builtins_registry):
    doc = describe(builtins_registry.get("divergence", "gaussian_kl"))
    assert [p.name for p in doc.parameters] == ["estimator"]
    assert [p.name for p in doc.common][:2] == ["beta", "anneal"]
    assert "anneal.steps" in [p.name for p in doc.common]


def test_markdown_table_escapes_pipes_outside_code_and_math(sketch):
    markdown = pytest.importorskip("markdown")
    text = component_markdown(describe(sketch.get("likelihood", "sketch")))
    assert "| `mode` |" in text and "Which \\| way." in text
    html = markdown.markdown(text, extensions=["tables"])
    assert "<td>Which | way.</td>" in html  # one cell, not two
    assert "<td><code>int | null</code></td>" in html


def test_terminal_text(sketch):
    text = component_text(describe(sketch.get("likelihood", "sketch")))
    assert text.splitlines()[0] == "likelihood sketch  (my-pkg 1.2)"
    assert r"\log p(x|\mu)" in text and "$" not in text
    assert "  path        str; required\n              Where it is.\n" in text
    assert "  limit       int | null; default null; ≥ 2, < 1,000,000\n" in text


def test_every_kind_gets_a_page_even_one_added_later(builtins_registry, monkeypatch):
    class Sampler(nn.Module, ABC):
        """Draws latent codes: a kind genkit did not have."""

        kind: ClassVar[str] = "sampler"
        Params: ClassVar[type[BaseModel]] = Params

        @abstractmethod
        def draw(self) -> Tensor: ...

    class Uniform(Sampler):
        """Uniform codes in the unit cube."""

        def draw(self) -> Tensor:
            raise NotImplementedError

    monkeypatch.setitem(KINDS, "sampler", Sampler)
    builtins_registry.add(Component("uniform", Uniform), plugin="p", package="p-pkg 0.1")
    pages = {page.path: page for page in reference_pages(builtins_registry)}
    assert list(pages) == ["index.md", *(f"{kind}.md" for kind in KINDS)]
    assert "## uniform" in pages["sampler.md"].text
    assert "Draws latent codes" in pages["sampler.md"].text
    assert "sampler: {type: uniform}" in pages["sampler.md"].text
    assert "| sampler | [uniform](sampler.md#uniform) | p-pkg 0.1 |" in pages["index.md"].text


def test_plugin_problems_are_on_the_overview(builtins_registry):
    builtins_registry.register_plugin(object(), name="empty", package="empty-pkg 0.1")
    (overview, *_) = reference_pages(builtins_registry)
    assert "plugin 'empty' (empty-pkg 0.1): registers no components" in overview.text


def test_every_builtin_example_line_is_a_valid_spec_section(builtins_registry):
    for component in builtins_registry.components():
        line = describe(component).example
        ((section, value),) = yaml.safe_load(line).items()
        assert section == (COMPONENT_KINDS[component.kind].section or component.kind)
        value = value[0] if isinstance(value, list) else value
        model = builtins_registry.spec_model(component.kind, component.name)
        assert model.model_validate(value).type == component.name, line


def test_every_builtin_parameter_has_a_description(builtins_registry):
    """Future components must describe their parameters too: this is the reference's content."""
    missing = [
        f"{c.kind} {c.name}: {p.name}"
        for c in builtins_registry.components()
        for p in [*describe(c).parameters, *describe(c).common]
        if not p.description
    ]
    missing += [f"train: {p.name}" for p in parameters(TrainSpec) if not p.description]
    assert missing == []


def test_genkit_schema_carries_whole_docstrings_and_descriptions(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    section = schema["$defs"]["MSEParams_likelihood_mse"]
    assert "normalized = False" in section["description"]  # the docstring's last paragraph
    assert section["properties"]["weight"]["description"].startswith("w, the factor")
    assert spec_model().model_json_schema()["$defs"]["TrainSpec"]["properties"]["lr"]["description"]


def test_genkit_describe_prints_a_component(capsys):
    assert main(["describe", "data", "mnist"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("data mnist  (genkit-lvm ")
    assert "data: {type: mnist, root: data, download: false}" in out
    assert "  root      str; default data\n" in out
    assert "the options of every data:" in out and "  max_train " in out


def test_genkit_describe_without_a_name_prints_the_whole_kind(capsys):
    assert main(["describe", "prior"]) == 0
    out = capsys.readouterr().out
    for name in ("gaussian", "mixture", "standard_normal", "vamp"):
        assert f"\nprior {name}  (" in f"\n{out}"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(
            ["describe", "likelihod", "mse"],
            "unknown kind 'likelihod'; did you mean 'likelihood'? known: encoder, posterior",
            id="kind",
        ),
        pytest.param(
            ["describe", "likelihood", "msee"],
            "unknown likelihood 'msee'; did you mean 'mse'?",
            id="name",
        ),
    ],
)
def test_genkit_describe_unknown(argv, message, capsys):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def _sections(page: str) -> dict[str, str]:
    """A generated page's ``## `` sections by their titles."""
    return {part.split("\n", 1)[0]: part for part in page.split("\n## ")[1:]}


def _table_defaults(markdown: str) -> dict[str, str]:
    """The parameter tables of some Markdown: each key's default, as the reader sees it."""
    rows = re.finditer(r"^\| `([^`]+)` \| `[^`]*` \| `([^`]*)` \|", markdown, re.M)
    return {row[1]: row[2] for row in rows}


def _text_defaults(text: str) -> dict[str, str]:
    """What ``genkit describe`` prints as each key's default (``beta  float; default 6.0; ...``)."""
    rows = re.finditer(r"^  (\S+) +[^;\n]+; (?:default )?(.+?)(?:; |$)", text, re.M)
    return {row[1]: row[2] for row in rows if not row[1].endswith(":")}


def test_every_components_page_gives_each_field_the_default_genkit_describe_gives(
    builtins_registry,
):
    """A reader of a component's section (then its kind's common options) sees its defaults.

    beta_tc's ``beta`` is 6.0, the weight of the total correlation; the page of every divergence
    says 1.0, and the site once sent beta_tc's reader there.
    """
    pages = {page.path: page.text for page in reference_pages(builtins_registry)}
    for component in builtins_registry.components():
        sections = _sections(pages[f"{component.kind}.md"])
        common = sections.get(f"The options of every {component.kind}", "")
        shown = {**_table_defaults(common), **_table_defaults(sections[component.name])}
        printed = _text_defaults(component_text(describe(component)))
        doc = describe(component)
        assert set(printed) == {p.name for p in [*doc.parameters, *doc.common]}, component.name
        assert {key: shown.get(key) for key in printed} == printed, component.name


def test_beta_tc_shows_its_own_beta_in_the_reference_and_in_genkit_describe(capsys):
    assert main(["describe", "divergence", "beta_tc"]) == 0
    assert _text_defaults(capsys.readouterr().out)["beta"] == "6.0"
    page = next(p for p in reference_pages(get_registry()) if p.path == "divergence.md")
    section = _sections(page.text)["beta_tc"]
    assert "| `beta` | `float` | `6.0` |" in section
    assert "divergence: {type: beta_tc, beta: 6.0," in section  # the example line too
    assert "the other options of every divergence" in section


def test_descriptions_show_as_written_in_the_site(builtins_registry):
    """``(C*H*W,)`` once rendered as "(CHW,)": Markdown read the asterisks as emphasis."""
    markdown = pytest.importorskip("markdown")
    text = component_markdown(describe(builtins_registry.get("data", "digits")))
    html = markdown.markdown(text, extensions=["tables"])
    assert "Make every example a vector (C*H*W,), for MLP encoders." in html
    assert "<em>" not in html.split("<table>", 1)[1]
