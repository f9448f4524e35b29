"""A Gaussian likelihood with a learned scale: the normalised counterpart of ``mse``."""

from __future__ import annotations

from torch.distributions import Normal

from .location_scale import LocationScale

__all__ = ["Gaussian"]


class Gaussian(LocationScale):
    r"""Independent :math:`\mathcal N(\mu_i, s_i^2)` per data element, constant included:

    :math:`\log p(x|\mu, s) = \sum_i -\tfrac12 \big(\tfrac{x_i - \mu_i}{s_i}\big)^2
    - \log s_i - \tfrac12 \log 2\pi`, with :math:`s_i = s_{\min} + e^{\rho_i}`.

    ``variance`` says where :math:`\rho` comes from (see :class:`LocationScaleParams`). Any real
    data is in its support; this is a density, so its numbers are comparable across likelihoods
    only for continuous data.
    """

    distribution_cls = Normal
