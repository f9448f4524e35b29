"""code_gmm: the fitted mixture's density is scikit-learn's, and an autoencoder samples with it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from sklearn.mixture import GaussianMixture

from genkit_core.testing import check_component
from genkit_plugins.priors.code_gmm import CodeGMM, CodeGMMParams


def _codes() -> torch.Tensor:
    rng = np.random.default_rng(0)
    blobs = [rng.normal(c, s, (200, 3)) for c, s in ((-3, 0.5), (0, 1.0), (4, 0.3))]
    return torch.as_tensor(np.concatenate(blobs), dtype=torch.float32)


def test_keeps_the_prior_contract():
    check_component(CodeGMM, {"components": 2})


def test_the_density_is_scikit_learns_mixture():
    codes = _codes()
    prior = CodeGMM(CodeGMMParams(components=3, seed=1), latent_dim=3)
    prior.fit(codes)
    reference = GaussianMixture(3, covariance_type="full", reg_covar=1e-6, random_state=1)
    reference.fit(codes.double().numpy())
    points = torch.randn(50, 3) * 3
    np.testing.assert_allclose(
        prior.log_prob(points).numpy(), reference.score_samples(points.double().numpy()),
        rtol=1e-4, atol=1e-4,
    )  # fmt: skip
    assert prior.sample(7).shape == (7, 3)


def test_the_fit_is_saved_with_the_weights():
    prior = CodeGMM(CodeGMMParams(components=3), latent_dim=3)
    prior.fit(_codes())
    again = CodeGMM(CodeGMMParams(components=3), latent_dim=3)
    again.load_state_dict(prior.state_dict())
    z = torch.randn(5, 3)
    assert torch.equal(again.log_prob(z), prior.log_prob(z))


def test_unfitted_it_is_the_standard_normal():
    prior = CodeGMM(CodeGMMParams(components=4), latent_dim=2)
    z = torch.randn(6, 2)
    expected = torch.distributions.Normal(0, 1).log_prob(z).sum(1)
    assert torch.allclose(prior.log_prob(z), expected, atol=1e-5)


def test_more_components_than_training_examples_is_refused_before_the_first_step():
    # the original report: scikit-learn's ValueError as a traceback after every epoch trained.
    # The trainer builds its model from the loaded data, whose train_size is known
    from genkit_core import DataInfo, SpecError, build_model, load_spec
    from genkit_core.testing import tiny_spec

    spec = load_spec(tiny_spec(model="ae", prior={"type": "code_gmm", "components": 50}))
    data = DataInfo((1, 8, 8), num_classes=10, name="digits", train_size=20)
    message = r"prior\.components: .*fits 50 components to the codes of the 20 training examples"
    with pytest.raises(SpecError, match=message):
        build_model(spec, data, device="meta")
    build_model(spec, replace(data, train_size=50), device="meta")
    build_model(spec, replace(data, train_size=None), device="meta")  # described, not loaded
