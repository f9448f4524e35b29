from __future__ import annotations

import numpy as np
import torch

from genkit_core.report.samples import draw_samples, fit_stand_in_prior


def test_the_stand_in_prior_is_the_registered_gaussian_of_the_sample_mean_and_covariance():
    """Built through the registry from the kinds' table, not re-implemented in the report."""
    codes = torch.randn(400, 3, dtype=torch.float64) @ torch.tensor(
        [[2.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.5, 0.2]], dtype=torch.float64
    )
    gaussian = fit_stand_in_prior(codes).distribution()
    np.testing.assert_allclose(gaussian.mean.numpy(), codes.numpy().mean(0), rtol=1e-6)
    expected = np.cov(codes.numpy(), rowvar=False) + 1e-5 * np.eye(3)
    np.testing.assert_allclose(gaussian.covariance_matrix.numpy(), expected, rtol=1e-5)


def test_an_ae_draws_codes_of_the_fitted_gaussian_and_says_so(views):
    samples = draw_samples(views["ae"], n=16)
    assert samples.x.shape == (16, *views["ae"].info.shape)
    assert "fitted to the train codes" in samples.how
    again = draw_samples(views["ae"], n=16)
    torch.testing.assert_close(samples.x, again.x)


def test_a_cvae_draws_one_row_per_class(views):
    samples = draw_samples(views["cvae"], per_class=5)
    classes = views["cvae"].info.num_classes
    assert samples.nrow == 5 and samples.row_labels == [str(c) for c in range(classes)]
    assert samples.x.shape[0] == 5 * classes


def test_a_vae_draws_from_its_prior(views):
    samples = draw_samples(views["vae"], n=8)
    assert samples.x.shape[0] == 8 and samples.how == "z ~ p(z)"
