"""The hierarchical prior: a top distribution and conditional Gaussians down to the bottom layer."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field
from torch import Tensor, nn
from torch.distributions import Distribution

from genkit_core import Params, Prior, SpecError
from genkit_plugins.posteriors.gaussian_chain import GaussianChain, GaussianLayer
from genkit_plugins.posteriors.hierarchical import HierarchicalPosterior

from .standard_normal import StandardNormal
from .vamp import VampParams, VampPrior

if TYPE_CHECKING:
    from genkit_core import LatentVariableModel

__all__ = ["HierarchicalPrior", "HierarchicalPriorParams", "NormalTop", "VampTop"]


class NormalTop(Params):
    r""":math:`p(z_n) = \mathcal N(0, I)`."""

    type: Literal["standard_normal"] = Field(
        "standard_normal", description="The standard normal on the top layer."
    )


class VampTop(VampParams):
    """The VampPrior on the top layer: its components are the top layer's posterior at the
    pseudo-inputs.
    """

    type: Literal["vamp"] = Field("vamp", description="The VampPrior on the top layer.")


class HierarchicalPriorParams(Params):
    """Which distribution the top layer has; the layers' sizes come from the posterior."""

    top: Annotated[NormalTop | VampTop, Field(discriminator="type")] = Field(
        default_factory=NormalTop,
        description="The top layer's distribution: {type: standard_normal}, or {type: vamp} "
        "with the vamp prior's options (components, init_mean, init_std).",
    )


_TOPS: dict[str, type[Prior]] = {"standard_normal": StandardNormal, "vamp": VampPrior}


class HierarchicalPrior(Prior):
    r""":math:`p(z) = p(z_n) \prod_{i=1}^{n-1} p(z_i|z_{i+1})` over the layers of a
    ``hierarchical`` posterior, each :math:`p(z_i|z_{i+1})` a diagonal Gaussian whose MLP
    mirrors the posterior's layer between the two (Burda et al., 2015).

    The layers' sizes and widths are read from the model's posterior when the model binds the
    prior, so a spec states them once. The top layer :math:`p(z_n)` is ``standard_normal`` or
    ``vamp`` (Tomczak and Welling, 2018): with ``vamp`` it is
    :math:`\frac1K \sum_k q(z_n \mid \bar z_{n-1}(u_k))`, the top layer's posterior at the code
    of the layer below for each pseudo-input :math:`u_k`. ``log_prob`` is exact:
    :math:`\log p(z_n) + \sum_i \log p(z_i|z_{i+1})`; samples are drawn from the top down. With
    a flat posterior (one layer) it is its top distribution alone.
    """

    Params = HierarchicalPriorParams
    params: HierarchicalPriorParams  # the validated section, narrowed from the interface

    def __init__(self, params: HierarchicalPriorParams, latent_dim: int):
        super().__init__(params, latent_dim)
        self.sizes: tuple[int, ...] = (self.latent_dim,)
        self.downward = nn.ModuleList()
        self.top: Prior | None = None
        self._top_layer: Callable[[Tensor], Distribution] | None = None
        self._features: Callable[[Tensor], Tensor] | None = None

    def bind(self, model: LatentVariableModel) -> None:
        posterior = model.posterior
        if isinstance(posterior, HierarchicalPosterior):
            self.sizes, layers = posterior.sizes, posterior.params.layers
            act = posterior.params.activation
            self.downward = nn.ModuleList(
                GaussianLayer(above, list(reversed(layer.hidden)), below, act)
                for below, above, layer in zip(self.sizes[:-1], self.sizes[1:], layers, strict=True)
            )
            self._top_layer = posterior.top  # bound methods: the model is no submodule here
        elif tuple(posterior.latent_shape) == (self.latent_dim,):
            self._top_layer = posterior.forward
        else:
            raise SpecError(
                f"the hierarchical prior mirrors a hierarchical posterior's layers, and this "
                f"posterior's latents have the shape {tuple(posterior.latent_shape)}; use "
                "posterior: {type: hierarchical, layers: [...]}",
                field="prior.type",
            )
        self._features = model.features
        top = self.params.top
        self.top = _TOPS[top.type](top, self.sizes[-1])
        if isinstance(self.top, VampPrior):
            self.top.bind(model, components=self._top_posterior)
        else:
            self.top.bind(model)

    def distribution(self) -> Distribution:
        if self.top is None:
            raise RuntimeError("the hierarchical prior is used before the model bound it")
        root = self.top.distribution()
        if not self.downward:
            return root
        return GaussianChain(root, list(self.downward), self.sizes, downward=True)

    def _top_posterior(self, inputs: Tensor) -> Distribution:
        """The top layer's posterior at ``inputs`` of the data's shape (the VampPrior's)."""
        assert self._features is not None and self._top_layer is not None
        return self._top_layer(self._features(inputs))
