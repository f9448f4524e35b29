"""The importance-weighted autoencoder's bound as the training loss (Burda et al., 2015)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from torch import Tensor

from genkit_core import (
    LatentVariableModel,
    Objective,
    ObjectiveOutput,
    ObjectiveParams,
    SpecError,
)
from genkit_core.bounds import importance_terms, iw_bound

__all__ = ["IWAE", "IWAEParams"]


class IWAEParams(ObjectiveParams):
    """K, the importance samples per example."""

    samples: Annotated[
        int, Field(gt=0, le=100_000, description="K: importance samples per example")
    ] = 5


class IWAE(Objective):
    r"""The negative importance-weighted bound, per example, averaged over the batch:

    .. math:: -\log \frac1K \sum_{k=1}^K
        \frac{p(x|z_k)\, p(z_k)}{q(z_k|x)}, \qquad z_k \sim q(z|x).

    It equals the negative ELBO at K = 1 and is never above the K-sample negative ELBO, so its
    gradient trains a tighter bound on :math:`-\log p(x)` (Burda et al., 2015). The logged terms
    ``reconstruction`` and ``divergence`` are the K-sample averages of :math:`-\log p(x|z_k)`
    and :math:`\log q(z_k|x) - \log p(z_k)`, a K-sample ELBO beside the bound. The divergence
    section takes no part in the loss (it is not a bound's term); evaluation still reports
    the KL.
    """

    Params = IWAEParams

    def check(self, model: LatentVariableModel) -> None:
        if not model.posterior.stochastic:
            raise SpecError(
                "iwae weighs draws by their density, and this posterior is a point mass; "
                "use posterior: {type: gaussian} (or iaf), or objective: {type: elbo}",
                field="objective.type",
            )
        if model.prior is None or model.prior.fitted_after_training:
            raise SpecError(
                "iwae needs a prior p(z) trained with the model; use model: vae",
                field="objective.type",
            )
        if model.posterior.terms:
            raise SpecError(
                f"the posterior adds loss terms ({', '.join(model.posterior.terms)}) that an "
                "importance-weighted bound has no place for; use objective: {type: elbo}",
                field="objective.type",
            )

    def term_names(self, model: LatentVariableModel) -> tuple[str, ...]:
        return ("reconstruction", "divergence")

    def forward(
        self,
        model: LatentVariableModel,
        x: Tensor,
        y: Tensor | None,
        noise: Tensor,
        step: Tensor | None,
    ) -> ObjectiveOutput:
        weights = importance_terms(model, x, y, noise.transpose(0, 1))
        loss = -iw_bound(weights.log_w).mean()
        terms = {
            "reconstruction": -weights.log_px.mean(0),
            "divergence": (weights.log_q - weights.log_pz).mean(0),
        }
        return ObjectiveOutput({"model": loss}, terms)
