r"""The Fréchet distance between Gaussians fitted to two feature sets: FID's formula, in the
space of any feature extractor.

.. math::

    d^2 = \lVert \mu_1 - \mu_2 \rVert^2
        + \operatorname{tr}\bigl(\Sigma_1 + \Sigma_2 - 2 (\Sigma_1 \Sigma_2)^{1/2}\bigr)

The trace of :math:`(\Sigma_1 \Sigma_2)^{1/2}` is the sum of the square roots of the
eigenvalues of the symmetric :math:`\Sigma_1^{1/2} \Sigma_2 \Sigma_1^{1/2}` (it has those of
:math:`\Sigma_1 \Sigma_2`), computed with ``eigh`` and clipped at 0: real and finite for any
covariances, singular ones included (fewer samples than dimensions), where ``scipy.linalg.sqrtm``
of the product can turn complex or fail, which FID implementations patch by adding ``1e-6`` to
the diagonal and taking the real part.

Example:
    >>> frechet_distance(features_of_samples, features_of_test_images)
"""

from __future__ import annotations

import numpy as np

from genkit_core import GenkitError, LatentVariableModel, MetricData

from ._quality import QualityParams, SampleQualityMetric

__all__ = ["FD", "frechet_distance", "gaussian_frechet_distance"]


def gaussian_frechet_distance(
    mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray
) -> float:
    r"""The squared Fréchet (2-Wasserstein) distance between N(mu1, cov1) and N(mu2, cov2),
    means ``(F,)`` and covariances ``(F, F)``; 0 or more.
    """
    root1 = _psd_sqrt(cov1)
    middle = root1 @ cov2 @ root1
    eigenvalues = np.linalg.eigvalsh((middle + middle.T) / 2).clip(min=0)
    trace = np.trace(cov1) + np.trace(cov2) - 2 * np.sqrt(eigenvalues).sum()
    return max(0.0, float(((mu1 - mu2) ** 2).sum() + trace))


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The Fréchet distance between Gaussians fitted (mean, unbiased covariance) to two feature
    sets ``(N, F)`` and ``(M, F)``.

    Raises:
        GenkitError: a set has fewer than two rows, or the sets differ in F.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise GenkitError(
            f"the Fréchet distance needs two sets of at least 2 feature vectors of one size, "
            f"(N, F) and (M, F); got {a.shape} and {b.shape}"
        )
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    return gaussian_frechet_distance(a.mean(0), cov_a, b.mean(0), cov_b)


def _psd_sqrt(cov: np.ndarray) -> np.ndarray:
    """The symmetric square root of a covariance, its negative rounding errors clipped."""
    values, vectors = np.linalg.eigh((cov + cov.T) / 2)
    root: np.ndarray = (vectors * np.sqrt(values.clip(min=0))) @ vectors.T
    return root


class FD(SampleQualityMetric):
    r"""The Fréchet distance (FID's formula) between the model's draws and test images, in a
    feature extractor's space, with its floor.

    Fits a Gaussian to the features of ``n`` images drawn from the prior (the likelihood's
    means), one to those of ``n`` test images, and gives
    :math:`\lVert \mu_1 - \mu_2 \rVert^2 + \operatorname{tr}(\Sigma_1 + \Sigma_2 -
    2 (\Sigma_1 \Sigma_2)^{1/2})`. ``floor``: the same of ``n`` training images (what
    reproducing the data scores at this ``n``); ``rec``: of the model's reconstructions of the
    test images. Lower is better; compare values of one extractor and one ``n`` only.
    """

    Params = QualityParams
    higher_is_better = False
    scores = ("fd", "rec", "floor")

    def __call__(
        self, model: LatentVariableModel, data: MetricData, random_state: np.random.Generator
    ) -> dict[str, float]:
        sets = self.sample_sets(model, data, random_state, reconstruct=True)
        assert sets.reconstructions is not None  # asked for
        return {
            "fd": frechet_distance(sets.generated, sets.test),
            "rec": frechet_distance(sets.reconstructions, sets.test),
            "floor": frechet_distance(sets.train, sets.test),
        }
