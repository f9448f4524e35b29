r"""Stochastic layers in a Markov chain: the distribution a hierarchical posterior and a
hierarchical prior share.

Both are chains of conditional diagonal Gaussians over layers :math:`z = (z_1, \ldots, z_L)`,
concatenated bottom-up into one vector; they differ only in direction. The posterior runs
upwards, :math:`q(z|x) = q(z_1|x) \prod_{i<L} q(z_{i+1}|z_i)`; the prior runs downwards,
:math:`p(z) = p(z_L) \prod_{i<L} p(z_i|z_{i+1})`. Either way the density of any z is exact:
split z into its layers and add each layer's log-density given its parent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal, constraints
from torch.types import _size  # the sample shape torch's Distribution methods take

from genkit_plugins.networks.activations import Activation
from genkit_plugins.networks.mlp import mlp_stack

from .gaussian import gaussian_draw

__all__ = ["GaussianChain", "GaussianLayer"]

Link = Callable[[Tensor], Distribution]


class GaussianLayer(nn.Module):
    r""":math:`\mathcal N(\mu(v), \operatorname{diag}\sigma^2(v))` given a parent v: an MLP of
    ``hidden`` widths, then one linear layer to the mean and the log-variance.

    Args:
        in_features: the parent's size.
        hidden: widths of the deterministic layers (empty: the mean and log-variance are
            linear in v).
        out_features: the size of the layer it is a distribution over.
        act: the activation after each hidden layer.
    """

    def __init__(self, in_features: int, hidden: Sequence[int], out_features: int, act: Activation):
        super().__init__()
        self.out_features = int(out_features)
        self.net = mlp_stack([in_features, *hidden, 2 * out_features], act, last_activation=False)

    def forward(self, parent: Tensor) -> Independent[Normal]:
        """The layer's distribution, batch shape ``parent.shape[:-1]``."""
        mu, log_var = self.net(parent).chunk(2, dim=-1)
        normal = Normal(mu, torch.exp(0.5 * log_var), validate_args=False)
        return Independent(normal, 1, validate_args=False)


class GaussianChain(Distribution):
    r"""Layers of sizes :math:`L_1, \ldots, L_n` drawn one from the other, as one vector.

    Upward (``downward=False``): :math:`z_1 \sim` ``root``, :math:`z_{i+1} \sim`
    ``links[i]``\ :math:`(z_i)`. Downward: :math:`z_n \sim` ``root``, :math:`z_i \sim`
    ``links[i]``\ :math:`(z_{i+1})`. Links are indexed bottom-up in both directions, and z is
    always :math:`(z_1, \ldots, z_n)`, so a posterior and a prior over the same layers agree
    on what each coordinate is.

    .. math:: \log p(z) = \log \mathrm{root}(z_{\text{first}})
        + \sum_{\text{links}} \log \mathcal N(z_{\text{child}};\, \mu(z_{\text{parent}}),
        \sigma^2(z_{\text{parent}})).

    Args:
        root: the first layer's distribution (a Gaussian for a posterior; any distribution
            with ``log_prob`` and ``sample``, a VampPrior's mixture say, for a prior).
        links: the n - 1 conditional distributions, bottom-up.
        sizes: :math:`(L_1, \ldots, L_n)`.
        downward: sample from the top layer down (a prior) instead of from the bottom up.
    """

    arg_constraints: ClassVar[dict[str, constraints.Constraint]] = {}
    support = constraints.real_vector

    def __init__(
        self,
        root: Distribution,
        links: Sequence[Link],
        sizes: Sequence[int],
        downward: bool = False,
    ):
        if len(links) != len(sizes) - 1:
            raise ValueError(f"{len(sizes)} layers need {len(sizes) - 1} links, got {len(links)}")
        self.root, self.sizes, self.downward = root, tuple(sizes), downward
        self.links = list(reversed(links)) if downward else list(links)
        """The links in sampling order."""
        order = range(len(sizes))
        self.order = list(reversed(order)) if downward else list(order)
        """The layers (bottom-up indices) in sampling order."""
        super().__init__(root.batch_shape, torch.Size([sum(sizes)]), validate_args=False)

    @property
    def has_rsample(self) -> bool:  # type: ignore[override]
        return bool(self.root.has_rsample)

    def layers(self, z: Tensor) -> list[Tensor]:
        """The layers ``(..., L_i)`` of z ``(..., sum L)``, bottom-up."""
        return list(z.split(self.sizes, dim=-1))  # type: ignore[no-untyped-call]  # torch: unannotated

    def log_prob(self, value: Tensor) -> Tensor:
        parts = self.layers(value)
        path = [parts[i] for i in self.order]
        log_p = self.root.log_prob(path[0])
        for link, parent, child in zip(self.links, path[:-1], path[1:], strict=True):
            log_p = log_p + link(parent).log_prob(child)
        return log_p

    def sample(self, sample_shape: _size = torch.Size()) -> Tensor:  # noqa: B008
        with torch.no_grad():
            return self._ancestral(self.root.sample(sample_shape), lambda d: d.sample())

    def rsample(self, sample_shape: _size = torch.Size()) -> Tensor:  # noqa: B008
        return self._ancestral(self.root.rsample(sample_shape), lambda d: d.rsample())

    def draw(self, noise: Tensor) -> tuple[Tensor, Tensor]:
        r"""A draw of z, and :math:`\log p(z)` at it, from noise ``(*S, *batch, sum L)``.

        Each layer is :math:`\mu + \sigma \odot \varepsilon` given its parent, so gradients
        reach every layer's parameters; the log-density is written in the noise (see
        :func:`~genkit_plugins.posteriors.gaussian.gaussian_draw`). Needs a Gaussian root.
        """
        eps = self.layers(noise)
        z, log_p = gaussian_draw(self.root, eps[self.order[0]])  # type: ignore[arg-type]
        path = [z]
        for link, i in zip(self.links, self.order[1:], strict=True):
            child, log_child = gaussian_draw(link(path[-1]), eps[i])  # type: ignore[arg-type]
            path.append(child)
            log_p = log_p + log_child
        return self._join(path), log_p

    def conditional_means(self) -> Tensor:
        """Each layer at its mean given its parent's conditional mean ``(*batch, sum L)``: the
        code of a hierarchical posterior.
        """
        return self._ancestral(self.root.mean, lambda d: d.mean)

    def _ancestral(self, first: Tensor, pick: Callable[[Distribution], Tensor]) -> Tensor:
        path = [first]
        for link in self.links:
            path.append(pick(link(path[-1])))
        return self._join(path)

    def _join(self, path: list[Tensor]) -> Tensor:
        """Layers in sampling order -> one vector, bottom-up."""
        by_layer = dict(zip(self.order, path, strict=True))
        return torch.cat([by_layer[i] for i in range(len(self.sizes))], dim=-1)
