"""The hierarchical posterior of a VAE with several stochastic layers (Burda et al., 2015)."""

from __future__ import annotations

from typing import Annotated, cast

from pydantic import Field
from torch import Tensor, nn
from torch.distributions import Distribution

from genkit_core import Draw, Params, Posterior
from genkit_plugins.networks.activations import Activation

from .gaussian_chain import GaussianChain, GaussianLayer

__all__ = ["HierarchicalParams", "HierarchicalPosterior", "LayerParams"]

Width = Annotated[int, Field(gt=0, le=65_536)]


class LayerParams(Params):
    """One stochastic layer above the first: its size and the deterministic layers below it."""

    latent_dim: Annotated[int, Field(gt=0, le=65_536)] = Field(
        description="The layer's number of latent units.", examples=[50]
    )
    hidden: Annotated[list[Width], Field(max_length=64)] = Field(
        default_factory=list,
        description="Widths of the deterministic layers between the layer below and this one "
        "(the prior's layer from this one down mirrors them).",
    )


class HierarchicalParams(Params):
    """The stochastic layers above the first, bottom-up, and the networks' activation."""

    layers: Annotated[list[LayerParams], Field(min_length=1, max_length=16)] = Field(
        default_factory=lambda: [LayerParams(latent_dim=50, hidden=[100, 100])],
        description="The stochastic layers above z_1 (whose size is latent_dim), bottom-up: "
        "Burda et al.'s two-layer model is [{latent_dim: 50, hidden: [100, 100]}].",
    )
    activation: Activation = Field(
        "tanh", description="The nonlinearity of every deterministic layer between stochastic ones."
    )


class HierarchicalPosterior(Posterior):
    r""":math:`q(z|x) = q(z_1|x) \prod_{i=1}^{n-1} q(z_{i+1}|z_i)`, each factor a diagonal
    Gaussian: the first a linear layer on the encoder's features h (as ``gaussian``), each one
    above an MLP of its layer's ``hidden`` widths on the layer below (Burda et al., 2015).

    z is :math:`(z_1, \ldots, z_n)` in one vector of :math:`\sum_i L_i` units, with
    :math:`L_1` = ``latent_dim``; the decoder sees :math:`z_1` only, so
    :math:`p(x|z) = p(x|z_1)`. A draw is ancestral, each layer reparameterised given the one
    below, and :math:`\log q(z|x)` is the sum of the layers' log-densities at the draw. With a
    ``hierarchical`` prior :math:`p(z_n) \prod_i p(z_i|z_{i+1})` over the same layers, the KL
    has no closed form and ``gaussian_kl`` estimates it by Monte Carlo. The code is each layer
    at its conditional mean given the code of the layer below.
    """

    Params = HierarchicalParams
    params: HierarchicalParams  # the validated section, narrowed from the interface

    def __init__(self, params: HierarchicalParams, in_shape: tuple[int, ...], latent_dim: int):
        super().__init__(params, in_shape, latent_dim)
        self.sizes = (self.latent_dim, *(layer.latent_dim for layer in params.layers))
        """:math:`(L_1, \\ldots, L_n)`, bottom-up."""
        act = params.activation
        self.bottom = GaussianLayer(self.in_features, [], self.latent_dim, act)
        self.upward = nn.ModuleList(
            GaussianLayer(below, layer.hidden, layer.latent_dim, act)
            for below, layer in zip(self.sizes[:-1], params.layers, strict=True)
        )

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return (sum(self.sizes),)

    @property
    def decoder_shape(self) -> tuple[int, ...]:
        return (self.sizes[0],)

    def decoder_input(self, z: Tensor) -> Tensor:
        """:math:`z_1`, the bottom layer: ``(..., L_1)``."""
        return z[..., : self.sizes[0]]

    def forward(self, features: Tensor) -> Distribution:
        return GaussianChain(self.bottom(features.flatten(1)), list(self.upward), self.sizes)

    def sample(self, q: Distribution, noise: Tensor) -> Draw:
        chain: GaussianChain = q  # type: ignore[assignment]
        return Draw(*chain.draw(noise))

    def code(self, q: Distribution) -> Tensor:
        chain: GaussianChain = q  # type: ignore[assignment]
        return chain.conditional_means()

    def top(self, features: Tensor) -> Distribution:
        r""":math:`q(z_n | \bar z_{n-1})`, the top layer given the code of the layer below it,
        batch ``(B,)``: the components of a VampPrior on the top layer.
        """
        chain = cast(GaussianChain, self(features))  # forward's
        below = chain.layers(chain.conditional_means())[-2]
        return cast(Distribution, self.upward[-1](below))  # nn.Module calls are typed Any
