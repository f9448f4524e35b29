"""A Gaussian mixture fitted to an autoencoder's codes after training (scikit-learn's EM)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import numpy as np
import torch
from pydantic import Field
from torch import Tensor
from torch.distributions import Categorical, Distribution, MixtureSameFamily, MultivariateNormal

from genkit_core import Params, Prior, SpecError

if TYPE_CHECKING:
    from genkit_core.model import LatentVariableModel

__all__ = ["CodeGMM", "CodeGMMParams"]


class CodeGMMParams(Params):
    """The mixture's size and how EM fits it."""

    components: Annotated[int, Field(gt=0, le=10_000)] = Field(
        10, description="K: Gaussian components (the RAE paper's ex-post density has 10)."
    )
    max_iter: Annotated[int, Field(gt=0, le=100_000)] = Field(
        100, description="EM iterations at most."
    )
    reg_covar: Annotated[float, Field(gt=0, le=1e3)] = Field(
        1e-6, description="Added to each covariance's diagonal (keeps it positive definite)."
    )
    seed: Annotated[int, Field(ge=0, lt=2**32)] = Field(
        0, description="Seeds EM's k-means initialisation."
    )


class CodeGMM(Prior):
    r""":math:`p(z) = \sum_k \pi_k \mathcal N(z;\, \mu_k, \Sigma_k)`, full covariances, fitted
    to the training codes by EM when training ends (scikit-learn's ``GaussianMixture``, k-means
    initialisation seeded by ``seed``): the ex-post density of Ghosh et al. (2020), with which a
    deterministic autoencoder samples. It takes no part in the loss. Until it is fitted it is
    :math:`\mathcal N(0, I)` (every component). Weights, means and Cholesky factors are saved
    with the model's weights.
    """

    Params = CodeGMMParams
    params: CodeGMMParams  # the validated section, narrowed from the interface
    weights: Tensor  # a buffer (nn.Module types attributes Tensor | Module)
    means: Tensor
    scale_tril: Tensor
    fitted_after_training = True

    def __init__(self, params: CodeGMMParams, latent_dim: int):
        super().__init__(params, latent_dim)
        k = params.components
        self.register_buffer("weights", torch.full((k,), 1.0 / k))
        self.register_buffer("means", torch.zeros(k, latent_dim))
        self.register_buffer("scale_tril", torch.eye(latent_dim).repeat(k, 1, 1))

    def check(self, model: LatentVariableModel) -> None:
        """EM needs at least one training code per component."""
        examples, k = model.data_info.train_size, self.params.components
        if examples is not None and examples < k:
            raise SpecError(
                f"the code_gmm prior fits {k} components to the codes of the {examples} "
                f"training examples of '{model.data_info.name}', and needs at least one "
                f"example per component; set prior.components to {examples} or fewer",
                field="prior.components",
            )

    def fit(self, codes: Tensor) -> None:
        from sklearn.mixture import GaussianMixture  # only when fitting

        p = self.params
        data = codes.flatten(1).double().cpu().numpy()
        gmm = GaussianMixture(
            p.components, covariance_type="full", max_iter=p.max_iter, reg_covar=p.reg_covar,
            random_state=p.seed,
        ).fit(data)  # fmt: skip
        as_buffer: Callable[[Any], Tensor]  # sklearn's fitted arrays are untyped
        as_buffer = lambda a: torch.as_tensor(np.asarray(a)).to(self.means)  # noqa: E731
        self.weights.copy_(as_buffer(gmm.weights_))
        self.means.copy_(as_buffer(gmm.means_))
        self.scale_tril.copy_(as_buffer(np.linalg.cholesky(gmm.covariances_)))

    def distribution(self) -> Distribution:
        components = MultivariateNormal(self.means, scale_tril=self.scale_tril, validate_args=False)
        mixing = Categorical(probs=self.weights, validate_args=False)
        return MixtureSameFamily(mixing, components, validate_args=False)
