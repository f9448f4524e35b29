"""The inverse autoregressive flow posterior (Kingma et al., 2016), built on zuko."""

from __future__ import annotations

from typing import Annotated, cast

import torch
from pydantic import Field
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal
from zuko.distributions import NormalizingFlow
from zuko.flows.autoregressive import MaskedAutoregressiveTransform
from zuko.lazy import LazyComposedTransform

from genkit_core import Draw, Params, Posterior

from .gaussian import gaussian_draw

__all__ = ["IAFParams", "IAFPosterior"]

Width = Annotated[int, Field(gt=0, le=65_536)]


class IAFParams(Params):
    """The flow's depth and the width of its autoregressive networks."""

    transforms: Annotated[int, Field(gt=0, le=64)] = Field(
        2, description="T: autoregressive transforms after the Gaussian base"
    )
    hidden: Annotated[list[Width], Field(min_length=1, max_length=16)] = Field(
        default_factory=lambda: [256, 256],
        description="hidden widths of each transform's masked network (MADE)",
    )


class IAFPosterior(Posterior):
    r"""An inverse autoregressive flow conditioned on the encoder's features h:
    :math:`z_0 = \mu(h) + \sigma(h) \odot \varepsilon`, then T autoregressive affine steps
    :math:`z_t = f_t(z_{t-1};\, h)` with :math:`z_{t,i}` depending on :math:`z_{t-1,<i}` and h,
    alternating the order of the dimensions between steps. The density at the draw follows from
    the change of variables without inverting anything:

    .. math:: \log q(z_T|x) = \log \mathcal N(z_0;\, \mu, \sigma^2)
        - \sum_t \log \left|\det \partial z_t / \partial z_{t-1}\right|.

    Each step is zuko's ``MaskedAutoregressiveTransform`` (a MADE network of ``hidden`` widths
    taking :math:`z_{t-1}` and h) used in its one-pass direction, which is what makes the flow
    inverse-autoregressive. The code is the flow applied to the base mean (:math:`\varepsilon
    = 0`). q is zuko's ``NormalizingFlow``, whose own ``log_prob`` of an arbitrary z runs the
    L-pass inverse: correct, and what the tests check the draw's density against.
    """

    Params = IAFParams

    def __init__(self, params: IAFParams, in_shape: tuple[int, ...], latent_dim: int):
        super().__init__(params, in_shape, latent_dim)
        self.head = nn.Linear(self.in_features, 2 * latent_dim)
        device = torch.get_default_device()
        with torch.device("cpu"):  # zuko derives its masks with ops the meta device lacks
            order = torch.arange(latent_dim)
            flow = LazyComposedTransform(
                *(
                    MaskedAutoregressiveTransform(
                        features=latent_dim,
                        context=self.in_features,
                        order=order if t % 2 == 0 else order.flip(0),
                        hidden_features=tuple(params.hidden),
                    )
                    for t in range(params.transforms)
                )
            )
        self.flow = flow.to(device)

    def forward(self, features: Tensor) -> Distribution:
        h = features.flatten(1)
        mu, log_var = self.head(h).chunk(2, dim=-1)
        base = Independent(Normal(mu, torch.exp(0.5 * log_var), validate_args=False), 1)
        # zuko samples through transform.inv: the inverse of the inverse is the one-pass flow
        return cast(Distribution, NormalizingFlow(self.flow(h).inv, base))  # zuko has no types

    def sample(self, q: Distribution, noise: Tensor) -> Draw:
        flow: NormalizingFlow = q
        z0, log_q0 = gaussian_draw(flow.base, noise)
        z, log_det = flow.transform.inv.call_and_ladj(z0)
        return Draw(z, log_q0 - log_det)

    def code(self, q: Distribution) -> Tensor:
        flow: NormalizingFlow = q
        return cast(Tensor, flow.transform.inv(flow.base.mean))
