"""The VampPrior (Tomczak and Welling, 2018): a mixture of the encoder's own posteriors."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import torch
from pydantic import Field
from torch import Tensor, nn
from torch.distributions import Categorical, Distribution, MixtureSameFamily

from genkit_core import Params, Prior, SpecError

if TYPE_CHECKING:
    from genkit_core import LatentVariableModel

__all__ = ["VampParams", "VampPrior"]


class VampParams(Params):
    """``components`` K pseudo-inputs; they start at ``init_mean`` + N(0, ``init_std``^2)."""

    components: Annotated[int, Field(gt=0, le=10_000)] = Field(
        50, description="K, the number of learned pseudo-inputs."
    )
    init_mean: Annotated[float, Field(ge=-1e3, le=1e3)] = Field(
        0.5, description="The mean of the pseudo-inputs' initial values (0.5: mid-grey)."
    )
    init_std: Annotated[float, Field(ge=0, le=1e3)] = Field(
        0.1, description="The standard deviation of the pseudo-inputs' initial values."
    )


class VampPrior(Prior):
    r""":math:`p(z) = \frac1K \sum_{k=1}^K q(z \mid u_k)`, with K learned pseudo-inputs
    :math:`u_k` of the data's shape passed through the model's own encoder.

    Uniform weights, as in the paper. The prior learns through the pseudo-inputs and shares the
    encoder and posterior, so it needs ``bind`` (done by the model) and an unconditional encoder
    (``vae``). The KL to the posterior has no closed form: the default ``gaussian_kl`` estimates
    it by Monte Carlo.
    """

    Params = VampParams
    params: VampParams  # the validated section, narrowed from the interface

    def __init__(self, params: VampParams, latent_dim: int):
        super().__init__(params, latent_dim)
        self._posterior: Callable[[Tensor], Distribution] | None = None
        self.pseudo_inputs: nn.Parameter | None = None

    def bind(
        self,
        model: LatentVariableModel,
        components: Callable[[Tensor], Distribution] | None = None,
    ) -> None:
        """Make the pseudo-inputs and keep what turns them into the mixture's components.

        Args:
            model: the model this prior belongs to.
            components: maps pseudo-inputs ``(K, *data_shape)`` to the components, batch
                ``(K,)``: ``model.posterior_of`` by default; a hierarchical prior passes its
                top layer's posterior.
        """
        if model.conditioner is not None:
            raise SpecError(
                "the vamp prior passes pseudo-inputs through the encoder, which a cvae "
                "conditions on labels; use model: vae, or prior: {type: mixture}",
                field="prior.type",
            )
        # a bound method, never the model itself: the model is not a submodule of its prior
        self._posterior = components or model.posterior_of
        p = self.params
        self.pseudo_inputs = nn.Parameter(
            p.init_mean + p.init_std * torch.randn(p.components, *model.data_info.shape)
        )

    def distribution(self) -> Distribution:
        if self._posterior is None or self.pseudo_inputs is None:
            raise RuntimeError("the vamp prior is used before the model bound its encoder")
        components = self._posterior(self.pseudo_inputs)
        logits = torch.zeros(self.params.components, device=self.pseudo_inputs.device)
        weights = Categorical(logits=logits, validate_args=False)
        return MixtureSameFamily(weights, components, validate_args=False)
