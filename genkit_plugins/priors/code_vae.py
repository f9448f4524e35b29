r"""A second-stage VAE fitted to a model's codes after training (Dai and Wipf, 2019)."""

from __future__ import annotations

import itertools
import math
from typing import Annotated

import torch
from pydantic import Field
from torch import Tensor, nn

from .code_density import CodeDensity, CodeDensityParams

__all__ = ["CodeVAE", "CodeVAEParams"]

_LOG_2PI = math.log(2 * math.pi)


class CodeVAEParams(CodeDensityParams):
    """The second stage's size, and how it is fitted."""

    hidden: Annotated[int, Field(gt=0, le=8192)] = Field(
        256, description="Width of the encoder's and the decoder's hidden layers."
    )
    layers: Annotated[int, Field(gt=0, le=16)] = Field(
        2, description="Hidden layers of the encoder and of the decoder."
    )
    latent: Annotated[int, Field(gt=0, le=4096)] | None = Field(
        None,
        description="Size of the second stage's latent w (default: latent_dim, as Dai and Wipf).",
    )
    iw_samples: Annotated[int, Field(gt=0, le=100_000)] = Field(
        64, description="K of the importance-weighted bound log_prob returns."
    )


def _mlp(inputs: int, hidden: int, layers: int, outputs: int) -> nn.Sequential:
    sizes = [inputs, *([hidden] * layers)]
    blocks: list[nn.Module] = []
    for a, b in itertools.pairwise(sizes):
        blocks += [nn.Linear(a, b), nn.SiLU()]
    return nn.Sequential(*blocks, nn.Linear(sizes[-1], outputs))


class _SecondStage(nn.Module):
    """Encoder u -> (mean, log variance) of q(w|u), decoder w -> mean of p(u|w), log gamma."""

    encoder: nn.Sequential
    decoder: nn.Sequential

    def __init__(self, features: int, latent: int, hidden: int, layers: int):
        super().__init__()
        self.encoder = _mlp(features, hidden, layers, 2 * latent)
        self.decoder = _mlp(latent, hidden, layers, features)
        self.log_gamma = nn.Parameter(torch.zeros(()))

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.log_gamma)


class CodeVAE(CodeDensity):
    r"""The second stage of Dai and Wipf's two-stage VAE (2019) on the standardised codes
    :math:`u = (z - m)/s`: :math:`q(w|u) = \mathcal N(\mu(u), \mathrm{diag}\,\sigma^2(u))`,
    :math:`p(w) = \mathcal N(0, I)` and :math:`p(u|w) = \mathcal N(g(w), \gamma I)` with one
    learned output variance :math:`\gamma` (their key point: as it shrinks, the second stage
    matches the first stage's aggregate posterior). The fit minimises the negative ELBO

    .. math:: \frac{\lVert u - g(w)\rVert^2}{2\gamma} + \frac{L}{2}\log(2\pi\gamma)
        + \mathrm{KL}\big(q(w|u) \,\|\, \mathcal N(0, I)\big),
        \quad w = \mu(u) + \sigma(u)\,\varepsilon,

    one :math:`\varepsilon` per code from torch's global generator. A draw is
    :math:`z = m + s\,g(w)`, :math:`w \sim \mathcal N(0, I)` (the decoder's mean).

    ``log_prob`` is **not exact**: it is the importance-weighted lower bound with
    ``iw_samples`` draws of q(w|u) (from a generator seeded by ``seed``, so it is repeatable),
    minus :math:`\sum_l \log s_l`; in expectation below :math:`\log p(z)`.
    """

    Params = CodeVAEParams
    params: CodeVAEParams
    net: _SecondStage

    def __init__(self, params: CodeVAEParams, latent_dim: int):
        super().__init__(params, latent_dim)
        self.latent = params.latent or latent_dim
        self.net = _SecondStage(latent_dim, self.latent, params.hidden, params.layers)
        self.freeze()

    def loss(self, u: Tensor) -> Tensor:
        mean, log_var = self.net.encoder(u).chunk(2, dim=-1)
        w = mean + (0.5 * log_var).exp() * torch.randn_like(mean)
        kl: Tensor = 0.5 * (mean.square() + log_var.exp() - 1 - log_var).sum(-1)
        return -self._log_p_u(u, w) + kl

    def _log_p_u(self, u: Tensor, w: Tensor) -> Tensor:
        r""":math:`\log \mathcal N(u;\, g(w), \gamma I)`, ``(..., L) -> (...)``."""
        log_gamma = self.net.log_gamma
        sq = (u - self.net.decoder(w)).square().sum(-1)
        log_p: Tensor = -0.5 * (sq / log_gamma.exp() + u.shape[-1] * (_LOG_2PI + log_gamma))
        return log_p

    def sample_standard(self, n: int) -> Tensor:
        w = torch.randn(n, self.latent, device=self.shift.device, dtype=self.shift.dtype)
        mean: Tensor = self.net.decoder(w)
        return mean

    @torch.no_grad()
    def log_prob_standard(self, u: Tensor) -> Tensor:
        k = self.params.iw_samples
        mean, log_var = self.net.encoder(u).chunk(2, dim=-1)
        std = (0.5 * log_var).exp()
        g = torch.Generator(device=u.device).manual_seed(self.params.seed)
        eps = torch.randn(k, *mean.shape, generator=g, device=u.device, dtype=u.dtype)
        w = mean + std * eps
        log_q = (-0.5 * (eps.square() + _LOG_2PI) - std.log()).sum(-1)
        log_p_w = (-0.5 * (w.square() + _LOG_2PI)).sum(-1)
        log_w = self._log_p_u(u.expand(k, *u.shape), w) + log_p_w - log_q
        return torch.logsumexp(log_w, 0) - math.log(k)
