"""A Gaussian fitted to an autoencoder's codes after training: a density it can sample from."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Distribution, MultivariateNormal

import genkit_core
from genkit_core import Params, Prior

__all__ = ["CodeGaussian"]

_JITTER = 1e-5


class CodeGaussian(Prior):
    r""":math:`p(z) = \mathcal N(\hat\mu, \hat\Sigma + 10^{-5} I)`, the sample mean and
    covariance of the training codes, fitted when training ends (an ex-post density,
    Ghosh et al., 2020).

    It takes no part in the loss, so it suits a model without a KL term: an autoencoder that
    should also generate (``genkit sample``). Until it is fitted it is :math:`\mathcal N(0, I)`.
    Its mean and covariance are saved with the weights.
    """

    Params = Params
    loc: Tensor  # a buffer (nn.Module types attributes Tensor | Module)
    scale_tril: Tensor
    fitted_after_training = True

    def __init__(self, params: genkit_core.Params, latent_dim: int):
        super().__init__(params, latent_dim)
        self.register_buffer("loc", torch.zeros(latent_dim))
        self.register_buffer("scale_tril", torch.eye(latent_dim))

    def fit(self, codes: Tensor) -> None:
        codes = codes.flatten(1).double()
        covariance = torch.cov(codes.T, correction=1) if len(codes) > 1 else None
        if covariance is None or covariance.dim() == 0:  # one code, or one latent dimension
            covariance = codes.var(0, correction=min(1, len(codes) - 1)).reshape(-1).diag()
        covariance = covariance + _JITTER * torch.eye(
            len(covariance), dtype=covariance.dtype, device=covariance.device
        )
        self.loc.copy_(codes.mean(0))
        self.scale_tril.copy_(torch.linalg.cholesky(covariance))

    def distribution(self) -> Distribution:
        return MultivariateNormal(self.loc, scale_tril=self.scale_tril, validate_args=False)
