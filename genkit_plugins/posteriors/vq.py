r"""The vector-quantised posterior of the VQ-VAE (van den Oord, Vinyals & Kavukcuoglu, 2017).

The encoder's features ``(C, *grid)`` (a conv encoder's feature map with ``feature_map: true``,
or a flat vector: a grid of one cell) are projected to ``z_e`` of ``D = latent_dim`` numbers
per cell, and each cell is replaced by its nearest entry of a codebook of K vectors. The
codebook is learned by exponential moving averages of the vectors assigned to each entry
(the paper's appendix A.1), kept in buffers and updated in place.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, cast

import torch
import torch.distributed as dist
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn
from torch.distributions import Distribution

from genkit_core import Draw, Params, PointMass, Posterior

__all__ = ["Quantized", "VQParams", "VectorQuantizer"]


class VQParams(Params):
    """The codebook's size, the commitment weight and the moving averages' decay."""

    codes: Annotated[int, Field(gt=1, le=1 << 20)] = Field(
        512, description="K: the entries of the codebook."
    )
    commitment: Annotated[float, Field(ge=0, le=1e6)] = Field(
        0.25,
        description="beta: weight of the commitment loss beta ||z_e - sg[e]||^2, which keeps "
        "the encoder's outputs near the entries they are assigned to.",
    )
    decay: Annotated[float, Field(ge=0, lt=1)] = Field(
        0.99, description="gamma: decay of the codebook's exponential moving averages."
    )
    epsilon: Annotated[float, Field(gt=0, le=1)] = Field(
        1e-5, description="Laplace smoothing of the moving counts (keeps unused entries finite)."
    )
    restart_below: Annotated[float, Field(gt=0, le=1e9)] = Field(
        1.0,
        description="An entry whose moving count falls below this many vectors per step is "
        "dead: it restarts at one of the batch's encoder outputs, with a count of twice this. "
        "Every entry starts dead, so the first training step initialises the codebook from "
        "the data.",
    )


class Quantized(PointMass):
    """q(z|x) of a codebook posterior: the point mass at the quantised grid.

    ``value`` is the straight-through code ``z_e + sg[e - z_e]`` (its value is the codebook
    entries ``e``, its gradient reaches ``z_e``); ``encoded`` is ``z_e`` and ``indices`` the
    chosen entries ``(B, *grid)``.
    """

    def __init__(self, value: Tensor, encoded: Tensor, quantized: Tensor, indices: Tensor):
        super().__init__(value, event_dims=value.dim() - 1)
        self.encoded, self.quantized, self.indices = encoded, quantized, indices


class VectorQuantizer(Posterior):
    r"""Each cell of the encoder's grid, projected to :math:`z_e \in \mathbb R^D`, replaced by
    its nearest codebook entry :math:`e_k`, :math:`k = \arg\min_j \|z_e - e_j\|`.

    - **Straight-through gradient**: the decoder gets :math:`z_e + \mathrm{sg}[e_k - z_e]`,
      whose value is :math:`e_k` and whose gradient is copied to :math:`z_e`.
    - **Commitment loss** (the posterior's term ``commitment``, added to the loss by the
      objective): :math:`\beta \sum_{\text{cells}} \|z_e - \mathrm{sg}[e_k]\|^2` per example.
    - **EMA codebook**: in training (with gradients on), the counts :math:`N_k` and sums
      :math:`m_k` of the vectors assigned to each entry are averaged,
      :math:`N_k \leftarrow \gamma N_k + (1-\gamma) n_k`,
      :math:`m_k \leftarrow \gamma m_k + (1-\gamma) \sum_{z_e \mapsto k} z_e`, and
      :math:`e_k = m_k / \tilde N_k` with Laplace-smoothed counts
      :math:`\tilde N_k = (N_k + \epsilon) / (N + K\epsilon) \cdot N`. The three are buffers,
      updated in place with no host synchronisation, so a CUDA graph replays them and a
      checkpoint holds them; under ``torch.distributed`` the batch statistics are summed over
      the ranks first, so every rank keeps the same codebook.
    - **Dead entries restart**: an entry whose moving count :math:`N_k` falls below
      ``restart_below`` is moved to a random encoder output of the batch (Dhariwal et al.,
      2020; vector-quantize-pytorch's dead-code expiry). Every count starts at 0, so the first
      training step initialises the whole codebook from the data.

    It is a point mass (``stochastic = False``): no density, no KL. Its latent is the grid
    ``(D, *grid)``; its code (``encode``) the chosen entries :math:`e_k`. Priors over the
    indices (``code_pixelcnn``) use :meth:`embed` and :meth:`indices`.
    """

    Params = VQParams
    params: VQParams  # the validated section, narrowed from the interface
    codebook: Tensor  # a buffer (nn.Module types attributes Tensor | Module)
    cluster_size: Tensor
    embed_sum: Tensor
    stochastic = False
    terms: ClassVar[tuple[str, ...]] = ("commitment",)

    def __init__(self, params: VQParams, in_shape: tuple[int, ...], latent_dim: int):
        super().__init__(params, in_shape, latent_dim)
        channels, *grid = self.in_shape
        self.grid = tuple(grid)
        self.project = nn.Linear(channels, latent_dim)
        self.register_buffer("codebook", torch.randn(params.codes, latent_dim))
        self.register_buffer("cluster_size", torch.zeros(params.codes))
        self.register_buffer("embed_sum", torch.zeros(params.codes, latent_dim))

    @property
    def num_codes(self) -> int:
        """K, the entries of the codebook."""
        return int(self.params.codes)

    @property
    def latent_shape(self) -> tuple[int, ...]:
        """``(D, *grid)``: D numbers per cell of the encoder's grid."""
        return (self.latent_dim, *self.grid)

    def forward(self, features: Tensor) -> Distribution:
        z_e = self.project(features.movedim(1, -1))  # (B, *grid, D)
        flat = z_e.reshape(-1, self.latent_dim)
        indices = self._nearest(flat)
        if self.training and torch.is_grad_enabled():
            self._update_codebook(flat.detach(), indices)
        z_q = self.codebook[indices].view_as(z_e)
        straight = z_e + (z_q - z_e).detach()
        grid = z_e.shape[:-1]
        return Quantized(
            straight.movedim(-1, 1), z_e.movedim(-1, 1), z_q.movedim(-1, 1), indices.view(grid)
        )

    def sample(self, q: Distribution, noise: Tensor) -> Draw:
        quantized: Quantized = q  # type: ignore[assignment]
        lead = noise.shape[: noise.dim() - len(self.noise_shape)]  # (*S, B)
        z = quantized.value.expand(*lead, *quantized.value.shape[1:])
        gap = (quantized.encoded - quantized.quantized.detach()).square().flatten(1).sum(-1)
        commitment = (self.params.commitment * gap).expand(lead)
        return Draw(z, gap.new_zeros(lead), {"commitment": commitment})

    def code(self, q: Distribution) -> Tensor:
        return cast(Quantized, q).quantized

    # --- the codebook, for priors over the indices -------------------------------------------

    def embed(self, indices: Tensor) -> Tensor:
        """Codebook entries ``(N, D, *grid)`` of indices ``(N, *grid)``."""
        return self.codebook[indices].movedim(-1, 1)

    def indices(self, z: Tensor) -> Tensor:
        """The nearest entries' indices ``(N, *grid)`` of latents ``(N, D, *grid)``."""
        flat = z.movedim(1, -1).reshape(-1, self.latent_dim)
        return self._nearest(flat).view(z.shape[0], *z.shape[2:])

    def _nearest(self, flat: Tensor) -> Tensor:
        """``(N,)`` the index of the nearest entry of each row of ``(N, D)``."""
        e = self.codebook
        distance = flat.square().sum(1, keepdim=True) - 2 * flat @ e.T + e.square().sum(1)
        return distance.argmin(1)

    @torch.no_grad()
    def _update_codebook(self, flat: Tensor, indices: Tensor) -> None:
        """One step of the moving averages, then dead entries restarted, all in place and
        without a value read on the host (so a CUDA graph can replay it).
        """
        distributed = dist.is_available() and dist.is_initialized()
        one_hot = F.one_hot(indices, self.num_codes).to(flat.dtype)  # (N, K)
        stats = torch.cat([one_hot.sum(0, keepdim=True).T, one_hot.T @ flat], dim=1)  # (K, 1+D)
        # entries restart at random encoder outputs of the batch (rank 0's, under DDP)
        restart = flat[torch.randint(len(flat), (self.num_codes,), device=flat.device)]
        if distributed:
            dist.all_reduce(stats)
            dist.broadcast(restart, src=0)
        p = self.params
        self.cluster_size.mul_(p.decay).add_(stats[:, 0], alpha=1 - p.decay)
        self.embed_sum.mul_(p.decay).add_(stats[:, 1:], alpha=1 - p.decay)
        dead = self.cluster_size < p.restart_below
        fresh = 2 * p.restart_below
        self.cluster_size.copy_(torch.where(dead, fresh, self.cluster_size))
        self.embed_sum.copy_(torch.where(dead.unsqueeze(1), fresh * restart, self.embed_sum))
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + p.epsilon) / (total + self.num_codes * p.epsilon) * total
        self.codebook.copy_(self.embed_sum / smoothed.unsqueeze(1))
