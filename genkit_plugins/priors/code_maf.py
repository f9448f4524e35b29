r"""A masked autoregressive flow fitted to a model's codes after training (zuko's MAF)."""

from __future__ import annotations

from typing import Annotated, cast

import torch
import zuko
from pydantic import Field
from torch import Tensor
from torch.distributions import Distribution

from .code_density import CodeDensity, CodeDensityParams

__all__ = ["CodeMAF", "CodeMAFParams"]


class CodeMAFParams(CodeDensityParams):
    """The flow's size, and how it is fitted."""

    transforms: Annotated[int, Field(gt=0, le=64)] = Field(
        5,
        description="Autoregressive transforms, the order of the dimensions reversed between them.",
    )
    hidden_features: Annotated[list[Annotated[int, Field(gt=0, le=8192)]], Field(
        min_length=1, max_length=8)] = Field(
        [128, 128], description="Widths of each transform's MADE network."
    )  # fmt: skip


class CodeMAF(CodeDensity):
    r""":math:`\log p(z) = \log \mathcal N(f(u);\, 0, I) + \log\left|\det \partial f/\partial
    u\right| - \sum_l \log s_l` with :math:`u = (z - m)/s`: a masked autoregressive flow
    (Papamakarios et al., 2017; zuko's ``MAF``: ``transforms`` affine autoregressive steps, each
    a MADE of ``hidden_features``) on the standardised codes, fitted when training ends (or by
    ``genkit fit-prior``) by maximum likelihood through the library's fitting loop. The density
    is exact in z-space, the standardisation's log-determinant included. A draw inverts the flow
    (L passes of each MADE). Until it is fitted it is an untrained flow.
    """

    Params = CodeMAFParams
    params: CodeMAFParams

    def __init__(self, params: CodeMAFParams, latent_dim: int):
        super().__init__(params, latent_dim)
        device = torch.get_default_device()
        with torch.device("cpu"):  # zuko derives its masks with ops the meta device lacks
            flow = zuko.flows.MAF(
                latent_dim, transforms=params.transforms,
                hidden_features=tuple(params.hidden_features),
            )  # fmt: skip
        self.net = flow.to(device)
        self.freeze()

    def flow(self) -> Distribution:
        """The flow's distribution of the standardised codes (zuko's ``NormalizingFlow``)."""
        return cast(Distribution, self.net())  # zuko has no types

    def loss(self, u: Tensor) -> Tensor:
        return -self.log_prob_standard(u)

    def sample_standard(self, n: int) -> Tensor:
        return self.flow().sample(torch.Size([n]))

    def log_prob_standard(self, u: Tensor) -> Tensor:
        return self.flow().log_prob(u)
