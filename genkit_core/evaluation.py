r"""Evaluation: the negative ELBO, the importance-weighted bound, and active latent units.

For a VAE, per example and in nats:

- negative ELBO :math:`= -\mathbb E_q \log p(x|z) + \mathrm{KL}(q(z|x) \| p(z))`, one sample of z;
- importance-weighted estimate (Burda et al., 2015)
  :math:`-\log p(x) \approx -\log \frac1K \sum_k \frac{p(x|z_k)\, p(z_k)}{q(z_k|x)}`,
  :math:`z_k \sim q(z|x)`; it equals a one-sample ELBO at K = 1 and tightens as K grows;
- active units: latent dimensions u with :math:`\operatorname{Var}_x \mathbb E_q[z_u] > 0.01`.

The K samples are processed in chunks whose size is bounded by ``max_batch`` (examples x
samples per decoder call), so memory depends on that bound, not on K.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor
from torch.distributions import Distribution

from .bounds import importance_terms
from .data import as_float, make_batches
from .interfaces import DataBundle, Draw
from .kl import kl_estimate
from .model import LatentVariableModel

__all__ = [
    "ACTIVE_UNIT_THRESHOLD",
    "active_units",
    "evaluate",
    "evaluate_test_split",
    "iw_log_likelihood",
    "kl_term",
    "log_importance_weights",
    "negative_elbo_terms",
]

ACTIVE_UNIT_THRESHOLD = 0.01
Batch = tuple[Tensor, Tensor | None]


def kl_term(model: LatentVariableModel, q: Distribution, draw: Draw) -> Tensor:
    """KL(q || p) per example ``(B,)``: the model's divergence when it is a KL, else the closed
    form where ``torch.distributions`` has one, else the one-sample estimate at the draw.
    """
    assert model.prior is not None
    p = model.prior.distribution()
    if model.divergence is not None and model.divergence.is_kl:
        return model.divergence(q, p, draw.z, draw.log_q)
    return kl_estimate(q, p, draw.z, draw.log_q)


@torch.no_grad()
def negative_elbo_terms(
    model: LatentVariableModel, x: Tensor, y: Tensor | None, noise: Tensor
) -> dict[str, Tensor]:
    """``reconstruction`` (-log p(x|z)) and ``kl`` per example for one posterior draw.

    ``noise`` ``(B, *posterior.noise_shape)`` draws z.
    """
    q = model.posterior_of(x, y)
    draw = model.posterior.sample(q, noise)
    terms = {"reconstruction": -model.log_likelihood(x, draw.z, y)}
    if model.is_variational:
        terms["kl"] = kl_term(model, q, draw)
    return terms


@torch.no_grad()
def log_importance_weights(
    model: LatentVariableModel, x: Tensor, y: Tensor | None, noise: Tensor
) -> Tensor:
    r"""Log importance weights :math:`\log p(x|z_k) + \log p(z_k) - \log q(z_k|x)`, ``(K, B)``.

    ``noise`` ``(K, B, *posterior.noise_shape)`` is the standard normal noise that draws each
    :math:`z_k`.
    """
    return importance_terms(model, x, y, noise).log_w


@torch.no_grad()
def iw_log_likelihood(
    model: LatentVariableModel,
    x: Tensor,
    y: Tensor | None,
    samples: int,
    generator: torch.Generator | None = None,
    max_batch: int = 1 << 15,
) -> Tensor:
    """The importance-weighted estimate of log p(x), ``(B,)``, in chunks of samples."""
    B = x.shape[0]
    chunk = max(1, min(samples, max_batch // max(B, 1)))
    partial = []
    for start in range(0, samples, chunk):
        k = min(chunk, samples - start)
        shape = (k, B, *model.posterior.noise_shape)
        noise = torch.randn(shape, generator=generator, device=x.device)
        partial.append(torch.logsumexp(log_importance_weights(model, x, y, noise), dim=0))
    return torch.logsumexp(torch.stack(partial), dim=0) - math.log(samples)


@torch.no_grad()
def active_units(model: LatentVariableModel, batches: Iterable[Batch]) -> tuple[int, Tensor]:
    """How many latent dimensions are active, and the variance of each posterior mean ``(L,)``."""
    means = torch.cat([model.encode(as_float(x), y).double().flatten(1) for x, y in batches])
    variance = means.var(dim=0, unbiased=True) if len(means) > 1 else torch.zeros(means.shape[1])
    return int((variance > ACTIVE_UNIT_THRESHOLD).sum()), variance.float()


@torch.no_grad()
def evaluate(
    model: LatentVariableModel,
    batches: Iterable[Batch],
    iw_samples: int = 0,
    seed: int = 0,
    max_batch: int = 1 << 15,
) -> dict[str, Any]:
    """Test-set metrics of a model, per example, in nats (JSON-able).

    Args:
        model: the model, in eval mode.
        batches: ``(x, y)`` test batches (``x`` as stored; ``uint8`` is mapped to [0, 1]).
        iw_samples: K for the importance-weighted estimate (0: skip it).
        seed: seeds the noise, so evaluation is repeatable.
        max_batch: bound on examples x samples per decoder call.
    """
    batches = list(batches)
    device = next(model.parameters()).device
    generator = torch.Generator(device).manual_seed(seed)
    totals: dict[str, float] = {}
    n = 0
    for x, y in batches:
        x = as_float(x)
        shape = (x.shape[0], *model.posterior.noise_shape)
        noise = torch.randn(shape, generator=generator, device=device)
        for name, values in negative_elbo_terms(model, x, y, noise).items():
            totals[name] = totals.get(name, 0.0) + float(values.double().sum())
        if iw_samples and model.is_variational:
            ll = iw_log_likelihood(model, x, y, iw_samples, generator, max_batch)
            totals["iw_nll"] = totals.get("iw_nll", 0.0) - float(ll.double().sum())
        n += x.shape[0]
    report: dict[str, Any] = {"examples": n, "unit": "nats per example"}
    report.update({k: v / n for k, v in totals.items()})
    if model.is_variational:
        report["negative_elbo"] = report["reconstruction"] + report["kl"]
        report["iw_samples"] = iw_samples
    active, _ = active_units(model, batches)
    report.update(active_units=active, latent_dim=math.prod(model.posterior.latent_shape))
    report["normalized"] = bool(model.likelihood.normalized)
    return report


def evaluate_test_split(
    model: LatentVariableModel,
    data: DataBundle,
    batch_size: int = 500,
    iw_samples: int = 0,
    seed: int = 0,
    max_batch: int = 1 << 15,
    num_workers: int = 0,
) -> dict[str, Any]:
    """:func:`evaluate` on the test split of ``data``, in batches of ``batch_size`` on the
    model's device: what ``genkit eval`` prints and the report's metrics table shows.
    """
    device = next(model.parameters()).device
    labelled = model.conditioner is not None
    batches = make_batches(
        data.test, data.info, labelled, batch_size, device, num_workers=num_workers
    )
    return evaluate(model, batches.in_order(), iw_samples, seed, max_batch)
