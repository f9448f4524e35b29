"""The Student-t likelihood against torch.distributions.StudentT, and its contract."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from genkit_student_t import StudentT, StudentTParams

from genkit_core import SpecError
from genkit_core.testing import check_component

SHAPE = (1, 3, 3)


def _reference(x, loc, scale, df):
    dist = torch.distributions.StudentT(df, loc, scale)
    return dist.log_prob(x).flatten(1).sum(1)


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({}, id="decoder-scale-learned-df"),
        pytest.param({"scale": "learned", "init_scale": 0.3}, id="learned-scale"),
        pytest.param({"df": 1.5, "learn_df": False}, id="fixed-df"),
        pytest.param({"activation": "identity", "df": 30.0}, id="identity-large-df"),
    ],
)
def test_log_prob_matches_torch_student_t(options):
    lik = StudentT(StudentTParams(**options), SHAPE)
    out = torch.randn(5, lik.num_params, *SHAPE)
    x = torch.rand(5, *SHAPE)
    loc = torch.sigmoid(out[:, 0]) if lik.params.activation == "sigmoid" else out[:, 0]
    if lik.params.scale == "decoder":
        scale = F.softplus(out[:, 1]) + lik.params.min_scale
    else:
        scale = torch.full(SHAPE, lik.params.init_scale)
    expected = _reference(x, loc, scale, torch.tensor(lik.params.df))
    torch.testing.assert_close(lik.log_prob(x, out), expected)


def test_num_params_follows_where_the_scale_comes_from():
    assert StudentT(StudentTParams(scale="decoder"), SHAPE).num_params == 2
    assert StudentT(StudentTParams(scale="learned"), SHAPE).num_params == 1


def test_df_is_trained_only_when_learned():
    learned = {n for n, _ in StudentT(StudentTParams(), SHAPE).named_parameters()}
    fixed = {n for n, _ in StudentT(StudentTParams(learn_df=False), SHAPE).named_parameters()}
    assert learned == {"raw_df"}
    assert fixed == set()


def test_large_df_tends_to_the_gaussian():
    lik = StudentT(StudentTParams(df=1e6, activation="identity"), SHAPE)
    out = torch.stack([torch.randn(5, *SHAPE), torch.zeros(5, *SHAPE)], dim=1)  # σ ≈ 0.69
    x = torch.randn(5, *SHAPE)
    scale = F.softplus(out[:, 1]) + lik.params.min_scale
    gaussian = torch.distributions.Normal(out[:, 0], scale).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(lik.log_prob(x, out), gaussian, rtol=1e-4, atol=1e-3)


def test_samples_have_the_location_as_median():
    lik = StudentT(StudentTParams(df=3.0, activation="identity"), (1,))
    out = torch.tensor([[[0.7], [-1.0]]]).expand(20_000, 2, 1)
    median = lik.sample(out).median()
    assert abs(float(median) - 0.7) < 0.02


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({}, id="default"),
        pytest.param({"scale": "learned", "learn_df": False}, id="learned-scale-fixed-df"),
    ],
)
def test_keeps_the_likelihood_contract(options):
    check_component(StudentT, options, name="student_t")


def test_init_scale_below_min_scale_is_a_spec_error():
    with pytest.raises(SpecError, match=r"init_scale: must exceed min_scale \(0.5\), got 0.1"):
        StudentT(StudentTParams(scale="learned", init_scale=0.1, min_scale=0.5), SHAPE)
