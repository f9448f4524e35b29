r"""The regularised autoencoder (Ghosh et al., 2020): a deterministic code with a norm penalty
and a regularised decoder.
"""

from __future__ import annotations

from typing import Annotated

import torch
from pydantic import Field
from torch import Tensor

from genkit_core import LatentVariableModel, ObjectiveOutput, ObjectiveParams, SpecError

from .elbo import ELBO

__all__ = ["RAE", "RAEParams"]


class RAEParams(ObjectiveParams):
    """The weights of the code penalty and of the decoder's L2 regulariser."""

    code_penalty: Annotated[float, Field(ge=0, le=1e6)] = Field(
        0.01, description="beta: weight of the code penalty 1/2 ||z||^2 per example."
    )
    decoder_l2: Annotated[float, Field(ge=0, le=1e6)] = Field(
        7.84e-5,
        description="lambda: weight of ||theta||^2 over the decoder's weights (not its biases): "
        "RAE-L2; 0 gives the paper's plain RAE (code penalty only).",
    )


class RAE(ELBO):
    r"""The RAE-L2 loss of Ghosh et al. (2020, eq. 11), per example and averaged over the batch:

    .. math:: -\log p(x|z) + \beta\, \tfrac12 \|z\|_2^2 + \lambda\, \|\theta_{\text{dec}}\|_2^2,
        \qquad z = E(x),

    where the reconstruction term is the likelihood's (``mse``: the summed squared error) and
    :math:`\theta_{\text{dec}}` are the decoder's weight matrices and kernels (Tikhonov
    regularisation, i.e. weight decay on the decoder alone). The decoder term is one number per
    batch; each example is given it (as ``mmd`` does). The gradient-penalty and spectral-norm
    variants of the paper are not built. Sampling needs a density fitted to the codes after
    training (``prior: {type: code_gmm}``, the paper's 10-component mixture, or
    ``code_gaussian``). Logged terms: ``reconstruction``, ``code_penalty`` (:math:`\tfrac12
    \|z\|^2`) and ``decoder_l2`` (:math:`\|\theta\|^2`), unweighted.
    """

    Params = RAEParams
    params: RAEParams  # the validated section, narrowed from the interface
    loss_is_elbo = False  # a code penalty and the decoder's weights, not a divergence

    def check(self, model: LatentVariableModel) -> None:
        if model.posterior.stochastic or model.divergence is not None or self.samples != 1:
            raise SpecError(
                "rae regularises a deterministic code and its decoder instead of a divergence; "
                "use model: ae with no divergence and samples: 1",
                field="objective.type",
            )

    def term_names(self, model: LatentVariableModel) -> tuple[str, ...]:
        return (*super().term_names(model), "code_penalty", "decoder_l2")

    def forward(
        self,
        model: LatentVariableModel,
        x: Tensor,
        y: Tensor | None,
        noise: Tensor,
        step: Tensor | None,
    ) -> ObjectiveOutput:
        loss, terms, draw = self.negative_elbo(model, x, y, noise, step)
        code = 0.5 * draw.z.flatten(1).square().sum(1)
        weights = [p for p in model.decoder.parameters() if p.dim() > 1]
        l2 = torch.stack([w.square().sum() for w in weights]).sum()
        p = self.params
        terms["code_penalty"] = code
        terms["decoder_l2"] = l2.expand(len(code))
        loss = loss + p.code_penalty * code.mean() + p.decoder_l2 * l2
        return ObjectiveOutput({"model": loss}, terms)
