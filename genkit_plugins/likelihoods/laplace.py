"""A Laplace likelihood: the L1 reconstruction term with a learned scale."""

from __future__ import annotations

from torch.distributions import Laplace as LaplaceDistribution

from .location_scale import LocationScale

__all__ = ["Laplace"]


class Laplace(LocationScale):
    r"""Independent :math:`\mathrm{Laplace}(\mu_i, b_i)` per data element, constant included:

    :math:`\log p(x|\mu, b) = \sum_i -\tfrac{|x_i - \mu_i|}{b_i} - \log 2 b_i`, with
    :math:`b_i = b_{\min} + e^{\rho_i}`. For a fixed scale it is the L1 loss up to a constant;
    ``variance`` says where :math:`\rho` comes from (see :class:`LocationScaleParams`).
    """

    distribution_cls = LaplaceDistribution
