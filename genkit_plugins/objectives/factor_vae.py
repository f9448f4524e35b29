r"""FactorVAE (Kim & Mnih, 2018): the ELBO plus a total-correlation penalty estimated by an
adversary, a discriminator on an optimiser group of its own.
"""

from __future__ import annotations

from typing import Annotated

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from genkit_core import LatentVariableModel, ObjectiveOutput, ObjectiveParams, SpecError

from .elbo import ELBO

__all__ = ["FactorVAE", "FactorVAEParams", "permute_dims"]

Width = Annotated[int, Field(gt=0, le=65_536)]


class FactorVAEParams(ObjectiveParams):
    """The weight of the total correlation and the discriminator's size."""

    gamma: Annotated[float, Field(ge=0, le=1e6)] = Field(
        6.4, description="gamma: weight of the total correlation estimated by the discriminator."
    )
    hidden: Annotated[list[Width], Field(min_length=1, max_length=64)] = Field(
        default_factory=lambda: [1000] * 6,
        description="Widths of the discriminator's hidden layers (the paper: six of 1000).",
    )
    negative_slope: Annotated[float, Field(ge=0, lt=1)] = Field(
        0.2, description="Slope of the discriminator's leaky ReLUs for negative inputs."
    )


def permute_dims(z: Tensor, uniform: Tensor) -> Tensor:
    r"""Each latent dimension of a batch ``(B, L)`` shuffled across the batch on its own: draws
    from the product of the marginals :math:`\prod_j q(z_j)`. ``uniform`` ``(B, L)`` (any
    distinct values) orders each column.
    """
    return z.gather(0, uniform.argsort(0))


class FactorVAE(ELBO):
    r"""The negative ELBO plus :math:`\gamma` times the total correlation
    :math:`\mathrm{KL}(q(z) \,\|\, \prod_j q(z_j))`, estimated by a discriminator D that tells
    draws of :math:`q(z)` from draws of :math:`\prod_j q(z_j)` (each dimension of the batch's
    codes shuffled across the batch):

    .. math:: \mathcal L_{\text{model}} = -\log p(x|z) + \mathrm{KL}(q(z|x) \,\|\, p(z))
        + \gamma \log \frac{D(z)}{1 - D(z)},
    .. math:: \mathcal L_{\text{discriminator}} = -\tfrac12 \left[\log D(z)
        + \log\left(1 - D(\tilde z)\right)\right], \quad \tilde z = \operatorname{permute}(z).

    D is an MLP of ``hidden`` widths with leaky ReLUs and two logits; :math:`\log D/(1 - D)`
    is their difference. D is a submodule of the objective in the ``discriminator`` group, so
    it gets its own optimiser (``train.optimizers.discriminator``; the paper's Adam has lr 1e-4
    and betas (0.5, 0.9)), and the trainer back-propagates each loss into its own group only:
    the discriminator's loss never reaches the encoder, although it is computed from the same
    codes. The shuffle takes the batch's own codes (the paper shuffles a second batch); its
    random order comes from torch's global generator, which checkpoints keep.
    """

    Params = FactorVAEParams
    params: FactorVAEParams  # the validated section, narrowed from the interface
    groups = ("model", "discriminator")
    loss_is_elbo = False  # the total correlation is added to it

    def __init__(self, params: FactorVAEParams, latent_dim: int):
        super().__init__(params, latent_dim)
        layers: list[nn.Module] = []
        for n_in, n_out in zip([latent_dim, *params.hidden], params.hidden, strict=False):
            layers += [nn.Linear(n_in, n_out), nn.LeakyReLU(params.negative_slope)]
        layers.append(nn.Linear(params.hidden[-1], 2))
        self.discriminator = nn.Sequential(*layers)

    def check(self, model: LatentVariableModel) -> None:
        if not model.is_variational or model.divergence is None or not model.divergence.is_kl:
            raise SpecError(
                "factor_vae adds a total-correlation penalty to a VAE's ELBO; use model: vae "
                "with a KL divergence (gaussian_kl)",
                field="objective.type",
            )
        if model.posterior.latent_shape != (self.latent_dim,) or self.samples != 1:
            raise SpecError(
                "factor_vae's discriminator reads one flat latent of latent_dim per example; "
                "use a flat posterior (gaussian) and samples: 1",
                field="objective.type",
            )

    def term_names(self, model: LatentVariableModel) -> tuple[str, ...]:
        return (*super().term_names(model), "total_correlation", "discriminator")

    def parameter_groups(self, model: LatentVariableModel) -> dict[str, list[nn.Parameter]]:
        own = list(self.discriminator.parameters())
        ids = {id(p) for p in own}
        rest = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
        return {"model": rest, "discriminator": own}

    def forward(
        self,
        model: LatentVariableModel,
        x: Tensor,
        y: Tensor | None,
        noise: Tensor,
        step: Tensor | None,
    ) -> ObjectiveOutput:
        loss, terms, draw = self.negative_elbo(model, x, y, noise, step)
        logits = self.discriminator(draw.z)
        total_correlation = logits[:, 0] - logits[:, 1]
        shuffled = permute_dims(draw.z.detach(), torch.rand_like(draw.z))
        logits_shuffled = self.discriminator(shuffled)
        real = torch.zeros(len(logits), dtype=torch.long, device=logits.device)
        discriminator = 0.5 * (
            F.cross_entropy(logits, real, reduction="none")
            + F.cross_entropy(logits_shuffled, real + 1, reduction="none")
        )
        terms["total_correlation"] = total_correlation
        terms["discriminator"] = discriminator
        losses = {
            "model": loss + self.params.gamma * total_correlation.mean(),
            "discriminator": discriminator.mean(),
        }
        return ObjectiveOutput(losses, terms)
