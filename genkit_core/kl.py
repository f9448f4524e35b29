r"""KL(q || p) per example: the closed form where ``torch.distributions`` registers one, else the
one-sample Monte-Carlo estimate at the posterior's own draw.

:math:`\widehat{\mathrm{KL}} = \log q(z|x) - \log p(z)` with :math:`z \sim q(z|x)` is unbiased,
so reconstruction plus either is an ELBO estimate. This is the one place the fallback lives: the
``gaussian_kl`` divergence, evaluation and the report use it.
"""

from __future__ import annotations

from typing import Literal

from torch import Tensor
from torch.distributions import Distribution, Independent, kl_divergence

__all__ = ["Estimator", "closed_form_kl", "has_closed_form", "kl_estimate"]

Estimator = Literal["auto", "analytic", "monte_carlo"]


def closed_form_kl(q: Distribution, p: Distribution, per_dimension: bool = False) -> Tensor:
    """The closed-form KL ``(B,)`` (or ``(B, L)`` per latent dimension, where both factorise).

    Raises:
        NotImplementedError: torch registers no formula for the pair (naming it), or
            ``per_dimension`` was asked of a pair that does not factorise.
    """
    if _factorises(q) and _factorises(p):
        try:
            per_dim = kl_divergence(q.base_dist, p.base_dist)  # type: ignore[attr-defined]
            return per_dim if per_dimension else per_dim.sum(-1)
        except NotImplementedError:
            pass
    if per_dimension:
        raise NotImplementedError(f"KL({describe(q)} || {describe(p)}) does not factorise")
    try:
        return kl_divergence(q, p)
    except NotImplementedError:
        raise NotImplementedError(
            f"KL({describe(q)} || {describe(p)}) has no formula in torch.distributions"
        ) from None


def has_closed_form(q: Distribution, p: Distribution) -> bool:
    """Whether :func:`closed_form_kl` has a formula for this pair."""
    try:
        closed_form_kl(q, p)
    except NotImplementedError as exc:
        if "meta" in str(exc):  # a meta tensor cannot run some formula: not the pair's fault
            raise
        return False
    return True


def kl_estimate(
    q: Distribution, p: Distribution, z: Tensor, log_q: Tensor, estimator: Estimator = "auto"
) -> Tensor:
    """KL(q || p) per example: closed form (``analytic``), Monte Carlo at z (``monte_carlo``),
    or the closed form where there is one and Monte Carlo otherwise (``auto``).
    """
    if estimator == "analytic" or (estimator == "auto" and has_closed_form(q, p)):
        return closed_form_kl(q, p)
    return log_q - p.log_prob(z)


def describe(d: Distribution) -> str:
    """``Independent(Normal)``: a distribution's type with what it wraps, for messages."""
    inner = getattr(d, "base_dist", None) or getattr(d, "component_distribution", None)
    return type(d).__name__ if inner is None else f"{type(d).__name__}({describe(inner)})"


def _factorises(d: Distribution) -> bool:
    return isinstance(d, Independent) and d.reinterpreted_batch_ndims == 1
