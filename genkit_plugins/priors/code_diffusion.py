r"""A denoising diffusion model fitted to a model's codes after training (a latent DDPM)."""

from __future__ import annotations

import math
from typing import Annotated, Literal

import torch
from pydantic import Field
from torch import Tensor, nn

from genkit_core import SpecError

from .code_density import CodeDensity, CodeDensityParams
from .code_vae import _mlp

__all__ = ["CodeDiffusion", "CodeDiffusionParams"]

_TIME_FEATURES = 32


class CodeDiffusionParams(CodeDensityParams):
    """The noise levels, the sampler and the noise predictor's size."""

    steps: Annotated[int, Field(ge=2, le=100_000)] = Field(
        1000, description="T: noise levels the predictor is trained on."
    )
    sample_steps: Annotated[int, Field(ge=1, le=100_000)] = Field(
        100, description="Steps of the sampler: DDIM below steps, ancestral (DDPM) at steps."
    )
    schedule: Literal["linear", "cosine"] = Field(
        "linear",
        description="The schedule of beta_t: linear (Ho et al.) or cosine (Nichol, Dhariwal).",
    )
    hidden: Annotated[int, Field(gt=0, le=8192)] = Field(
        256, description="Width of the noise predictor's hidden layers."
    )
    layers: Annotated[int, Field(gt=0, le=16)] = Field(
        3, description="Hidden layers of the noise predictor."
    )


def _betas(steps: int, schedule: str) -> Tensor:
    r""":math:`\beta_1 .. \beta_T` ``(T,)`` in float64: linear from 1e-4 to 0.02 scaled to T
    steps (as T = 1000 has them), or the cosine schedule, each capped at 0.999.
    """
    if schedule == "linear":
        scale = 1000 / steps
        return torch.linspace(scale * 1e-4, min(scale * 0.02, 0.999), steps, dtype=torch.float64)
    t = torch.arange(steps + 1, dtype=torch.float64) / steps
    f = torch.cos((t + 0.008) / 1.008 * math.pi / 2).square()
    return (1 - f[1:] / f[:-1]).clamp(max=0.999)


class _NoisePredictor(nn.Module):
    r""":math:`\varepsilon_\theta(x_t, t)`: an MLP of the noisy code and a sinusoidal
    embedding of t.
    """

    frequencies: Tensor  # a buffer

    def __init__(self, features: int, hidden: int, layers: int, steps: int):
        super().__init__()
        self.mlp = _mlp(features + _TIME_FEATURES, hidden, layers, features)
        half = _TIME_FEATURES // 2
        self.register_buffer("frequencies", torch.exp(-math.log(steps) * torch.arange(half) / half))

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        """``x`` ``(B, L)`` at 0-based steps ``t`` ``(B,)`` -> the predicted noise ``(B, L)``."""
        angles = t.to(x.dtype)[:, None] * self.frequencies.to(x.dtype)
        eps: Tensor = self.mlp(torch.cat([x, angles.sin(), angles.cos()], dim=-1))
        return eps


class CodeDiffusion(CodeDensity):
    r"""A DDPM (Ho et al., 2020) on the standardised codes :math:`u = (z - m)/s`: the forward
    process :math:`x_t = \sqrt{\bar\alpha_t}\,u + \sqrt{1 - \bar\alpha_t}\,\varepsilon` over
    ``steps`` (T) noise levels of a ``linear`` or ``cosine`` schedule, and an MLP
    :math:`\varepsilon_\theta(x_t, t)` fitted through the library's fitting loop to the simple
    loss, per code (t uniform on 1..T, then :math:`\varepsilon`, from torch's global generator):

    .. math:: \lVert \varepsilon - \varepsilon_\theta(x_t, t) \rVert^2.

    A draw runs ``sample_steps`` steps from :math:`x_T \sim \mathcal N(0, I)`: DDIM's
    deterministic update (Song et al., 2021) on evenly spaced steps when ``sample_steps < T``,
    the ancestral DDPM sampler (variance :math:`\tilde\beta_t`) when it equals T; each
    prediction of :math:`u` is clipped to the range of the training codes, as DDPM clips images.

    ``log_prob`` has no closed form: it returns the variational bound (Ho et al.'s
    :math:`-L_{vlb}`, reverse variances :math:`\tilde\beta_t`, and :math:`\beta_1` for the last
    step), a lower bound on :math:`\log p(z)` estimated with one noise draw per step from a
    generator seeded by ``seed`` (repeatable), minus :math:`\sum_l \log s_l`. It runs the network
    T times per batch: slow for large T.
    """

    Params = CodeDiffusionParams
    params: CodeDiffusionParams
    net: _NoisePredictor
    betas: Tensor  # buffers
    alpha_bars: Tensor
    bound: Tensor

    def __init__(self, params: CodeDiffusionParams, latent_dim: int):
        super().__init__(params, latent_dim)
        if params.sample_steps > params.steps:
            raise SpecError(
                f"sample_steps {params.sample_steps} is more than the {params.steps} steps the "
                "model is trained on; set sample_steps to steps or fewer",
                field="sample_steps",
            )
        betas = _betas(params.steps, params.schedule)
        self.register_buffer("betas", betas.float())
        self.register_buffer("alpha_bars", torch.cumprod(1 - betas, 0).float())
        self.register_buffer("bound", torch.tensor(10.0))
        self.net = _NoisePredictor(latent_dim, params.hidden, params.layers, params.steps)
        self.freeze()

    def fitted(self, u: Tensor) -> None:
        self.bound.copy_(u.abs().max())

    def noisy(self, u: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """:math:`x_t` ``(B, L)`` of codes ``u`` at 0-based steps ``t`` ``(B,)`` with noise eps."""
        a = self.alpha_bars[t][:, None]
        return a.sqrt() * u + (1 - a).sqrt() * eps

    def loss(self, u: Tensor) -> Tensor:
        t = torch.randint(0, self.params.steps, (len(u),), device=u.device)
        eps = torch.randn_like(u)
        predicted: Tensor = self.net(self.noisy(u, t, eps), t)
        return (eps - predicted).square().sum(-1)

    def sample_standard(self, n: int) -> Tensor:
        x = torch.randn(n, self.latent_dim, device=self.shift.device, dtype=self.shift.dtype)
        p = self.params
        if p.sample_steps == p.steps:
            return self._ancestral(x)
        times = torch.linspace(p.steps - 1, 0, p.sample_steps).round().long().tolist()
        for t, before in zip(times, [*times[1:], -1], strict=True):
            eps = self.net(x, torch.full((n,), t, device=x.device))
            a = self.alpha_bars[t]
            a_before = self.alpha_bars[before] if before >= 0 else torch.ones_like(a)
            u = ((x - (1 - a).sqrt() * eps) / a.sqrt()).clamp(-self.bound, self.bound)
            eps = (x - a.sqrt() * u) / (1 - a).sqrt()
            x = a_before.sqrt() * u + (1 - a_before).sqrt() * eps
        return x

    def _ancestral(self, x: Tensor) -> Tensor:
        for t in range(self.params.steps - 1, -1, -1):
            eps = self.net(x, torch.full((len(x),), t, device=x.device))
            a, beta = self.alpha_bars[t], self.betas[t]
            a_before = self.alpha_bars[t - 1] if t > 0 else torch.ones_like(a)
            u = ((x - (1 - a).sqrt() * eps) / a.sqrt()).clamp(-self.bound, self.bound)
            mean = (a_before.sqrt() * beta * u + (1 - beta).sqrt() * (1 - a_before) * x) / (1 - a)
            if t > 0:
                x = mean + ((1 - a_before) / (1 - a) * beta).sqrt() * torch.randn_like(x)
            else:
                x = mean
        return x

    @torch.no_grad()
    def log_prob_standard(self, u: Tensor) -> Tensor:
        steps, (b, dim) = self.params.steps, u.shape
        g = torch.Generator(device=u.device).manual_seed(self.params.seed)
        a_T = self.alpha_bars[-1]
        prior_kl = 0.5 * (a_T * u.square() + (1 - a_T) - 1 - (1 - a_T).log()).sum(-1)
        total = prior_kl
        for t in range(steps):
            eps = torch.randn(u.shape, generator=g, device=u.device, dtype=u.dtype)
            ts = torch.full((b,), t, device=u.device)
            error = (eps - self.net(self.noisy(u, ts, eps), ts)).square().sum(-1)
            beta, a = self.betas[t], self.alpha_bars[t]
            if t == 0:  # -log N(u; mu_theta(x_1), beta_1 I)
                total = total + error / (2 * (1 - beta)) + 0.5 * dim * torch.log(2 * math.pi * beta)
            else:  # KL(q(x_{t-1}|x_t, u) || p(x_{t-1}|x_t)), variances beta~_t
                var = (1 - self.alpha_bars[t - 1]) / (1 - a) * beta
                total = total + beta.square() / (2 * var * (1 - beta) * (1 - a)) * error
        return -total
