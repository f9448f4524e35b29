r"""``LatentVariableModel``: the one model class that composes AE, VAE and CVAE.

VAE: :math:`q(z|x) = \mathcal N(\mu(x), \operatorname{diag}\sigma^2(x))`, a reparameterised sample
:math:`z = \mu + \sigma \odot \varepsilon,\ \varepsilon \sim \mathcal N(0, I)`, and the loss
:math:`-\log p(x|z) + D(q(z|x) \,\|\, p(z))` per example, averaged over the batch.
AE: a deterministic code and the reconstruction term alone.
CVAE: a VAE whose encoder input and decoder latent are joined with a condition y by the
conditioner; y takes no part in the loss.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal

from .interfaces import (
    Conditioner,
    DataInfo,
    Decoder,
    Divergence,
    Encoder,
    Likelihood,
    Prior,
)

__all__ = ["LatentVariableModel", "ModelOutput"]


class ModelOutput(NamedTuple):
    """What one forward pass returns.

    Attributes:
        loss: the scalar training objective (per-example terms averaged over the batch, with the
            divergence's modifiers applied).
        terms: per-example ``(B,)`` terms in nats: ``reconstruction`` (-log p(x|z)) and, for a
            VAE or CVAE, ``divergence`` (unweighted).
    """

    loss: Tensor
    terms: dict[str, Tensor]


class LatentVariableModel(nn.Module):
    """An autoencoder (``ae``), VAE (``vae``) or conditional VAE (``cvae``) from components.

    Args:
        kind: ``ae``, ``vae`` or ``cvae``.
        latent_dim: L.
        data: shape and labels of the data the model is built for.
        encoder: data (after the conditioner) to features.
        decoder: latent (after the conditioner) to likelihood parameters.
        likelihood: p(x | decoder output).
        prior: p(z) (VAE and CVAE only).
        divergence: D(q || p) (VAE and CVAE only).
        conditioner: joins y to x and z (CVAE only).
    """

    def __init__(
        self,
        kind: str,
        latent_dim: int,
        data: DataInfo,
        encoder: Encoder,
        decoder: Decoder,
        likelihood: Likelihood,
        prior: Prior | None = None,
        divergence: Divergence | None = None,
        conditioner: Conditioner | None = None,
    ):
        super().__init__()
        if kind not in ("ae", "vae", "cvae"):
            raise ValueError(f"kind must be ae, vae or cvae, not {kind!r}")
        if (kind == "ae") != (prior is None or divergence is None):
            raise ValueError("a vae or cvae needs a prior and a divergence; an ae has neither")
        if (kind == "cvae") != (conditioner is not None):
            raise ValueError("a cvae needs a conditioner, and only a cvae has one")
        self.kind = kind
        self.latent_dim = int(latent_dim)
        self.data_info = data
        self.encoder = encoder
        self.head = nn.Linear(encoder.out_features, latent_dim * (1 if kind == "ae" else 2))
        self.decoder = decoder
        self.likelihood = likelihood
        self.prior = prior
        self.divergence = divergence
        self.conditioner = conditioner
        if prior is not None:
            prior.bind(self.posterior if conditioner is None else None, data.shape)
        self.spec: Any = None  # the resolved ModelSpec, set by build_model

    @property
    def is_variational(self) -> bool:
        """Whether the model has a posterior, prior and divergence (VAE, CVAE)."""
        return self.kind != "ae"

    def _code(self, x: Tensor, y: Tensor | None) -> Tensor:
        if self.conditioner is not None:
            x = self.conditioner.join_input(x, _required(y))
        return self.head(self.encoder(x))

    def posterior(self, x: Tensor, y: Tensor | None = None) -> Distribution:
        """q(z|x[, y]): a diagonal Gaussian with batch shape ``(B,)`` and event shape ``(L,)``."""
        if not self.is_variational:
            raise TypeError("an ae has no posterior distribution; use encode()")
        mu, logvar = self._code(x, y).chunk(2, dim=-1)
        normal = Normal(mu, torch.exp(0.5 * logvar), validate_args=False)
        return Independent(normal, 1, validate_args=False)

    def encode(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """The code ``(B, L)``: the posterior mean for a VAE, the deterministic code for an AE."""
        if not self.is_variational:
            return self._code(x, y)
        return self._code(x, y)[:, : self.latent_dim]

    def decode(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """Likelihood parameters ``(B, P, *data_shape)`` for latents ``(B, L)``."""
        if self.conditioner is not None:
            z = self.conditioner.join_latent(z, _required(y))
        return self.decoder(z)

    def reconstruct(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """The likelihood mean of x's code, ``(B, *data_shape)``."""
        return self.likelihood.mean(self.decode(self.encode(x, y), y))

    def sample(self, n: int, labels: Tensor | None = None, mean: bool = True) -> Tensor:
        """Generate ``(n, *data_shape)`` from the prior: the likelihood's mean, or a draw.

        Args:
            n: how many.
            labels: conditions for a cvae, ``(n,)`` labels or ``(n, C)`` vectors. With class
                labels and none given, the classes are cycled: 0, 1, ..., K-1, 0, ...
            mean: show the likelihood's mean (sharper) instead of a sample from it.
        """
        if self.prior is None:
            raise TypeError("an ae has no prior to sample from; train a vae, or use reconstruct()")
        z = self.prior.sample(n)
        if self.conditioner is not None and labels is None:
            classes = self.data_info.num_classes
            if classes is None:
                raise ValueError("this cvae is conditioned on vectors; pass labels=(n, C)")
            labels = torch.arange(n, device=z.device) % classes
        params = self.decode(z, labels)
        return self.likelihood.mean(params) if mean else self.likelihood.sample(params)

    def forward(
        self,
        x: Tensor,
        y: Tensor | None = None,
        eps: Tensor | None = None,
        step: Tensor | None = None,
    ) -> ModelOutput:
        """The loss and its per-example terms for a batch.

        Args:
            x: ``(B, *data_shape)`` data.
            y: ``(B,)`` labels or ``(B, C)`` conditions (cvae only).
            eps: ``(B, L)`` standard normal noise for the reparameterisation; drawn with
                ``torch.randn`` when None. The trainer passes its own so that runs are
                reproducible across devices, processes and resumption.
            step: the optimisation step (a tensor) for annealed divergences.
        """
        if not self.is_variational:
            recon = -self.likelihood.log_prob(x, self.decode(self._code(x, y), y))
            return ModelOutput(recon.mean(), {"reconstruction": recon})
        q = self.posterior(x, y)
        base: Normal = q.base_dist  # type: ignore[attr-defined]
        noise = torch.randn_like(base.loc) if eps is None else eps
        z = base.loc + base.scale * noise
        recon = -self.likelihood.log_prob(x, self.decode(z, y))
        assert self.divergence is not None and self.prior is not None
        value, penalty = self.divergence.penalty(q, self.prior.distribution(), z, step)
        return ModelOutput(recon.mean() + penalty, {"reconstruction": recon, "divergence": value})


def _required(y: Tensor | None) -> Tensor:
    if y is None:
        raise ValueError("a cvae needs its condition y (labels) for every batch")
    return y
