"""ae, vae and cvae as shorthands: the sections each fills in, and the ones it refuses."""

from __future__ import annotations

import pytest

from genkit_core import SpecError, load_spec
from genkit_core.testing import tiny_spec


@pytest.mark.parametrize(
    ("model", "filled"),
    [
        pytest.param("ae", {"posterior": "delta", "objective": "elbo", "likelihood": "bernoulli"},
                     id="ae"),
        pytest.param("vae", {"posterior": "gaussian", "objective": "elbo", "prior":
                     "standard_normal", "divergence": "gaussian_kl"}, id="vae"),
        pytest.param("cvae", {"posterior": "gaussian", "conditioner": "label_concat"}, id="cvae"),
    ],
)  # fmt: skip
def test_each_kind_fills_in_its_sections(model, filled):
    spec = load_spec(tiny_spec(model=model))
    for section, name in filled.items():
        assert getattr(spec, section).type == name, section


def test_an_ae_has_no_prior_or_divergence_unless_given():
    spec = load_spec(tiny_spec(model="ae"))
    assert spec.prior is None and spec.divergence is None


def test_an_ae_with_a_divergence_gets_the_standard_normal_prior():
    spec = load_spec(tiny_spec(model="ae", divergence={"type": "mmd"}))
    assert spec.prior.type == "standard_normal"


def test_any_section_can_be_swapped_in_one_line():
    spec = load_spec(tiny_spec(posterior={"type": "iaf"}, objective={"type": "iwae"}))
    assert (spec.posterior.type, spec.objective.type, spec.objective.samples) == ("iaf", "iwae", 5)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"model": "vae", "conditioner": {"type": "label_concat"}},
                     r"conditioner: only a cvae has a conditioner; remove it or set model: cvae "
                     r"\(this is a vae\)", id="conditioner-on-a-vae"),
        pytest.param({"model": "ae", "conditioner": {"type": "label_concat"}},
                     r"this is an ae\)", id="conditioner-on-an-ae"),
        pytest.param({"prior": None}, r"prior: a vae needs a prior; remove the null",
                     id="null-prior"),
        pytest.param({"posterior": None}, r"posterior: a vae needs a posterior", id="null-post"),
        pytest.param({"objective": {"type": "elbow"}},
                     r"objective: unknown objective 'elbow'; did you mean 'elbo'\?", id="typo"),
        pytest.param({"model": "ae", "divergence": {"type": "mmd"}, "prior": None},
                     r"prior: a divergence compares the posterior with a prior", id="no-prior"),
    ],
)  # fmt: skip
def test_sections_a_kind_cannot_have_are_named(changes, message):
    with pytest.raises(SpecError, match=message):
        load_spec(tiny_spec(**changes))
