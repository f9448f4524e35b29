r"""An autoregressive prior over a codebook posterior's grid of indices, fitted after training."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Protocol, cast

import torch
from pydantic import Field
from torch import Tensor
from torch.distributions import Distribution
from torch.types import _size  # the sample shape torch's Distribution methods take

from genkit_core import Params, Prior, SpecError
from genkit_core.interfaces import spec_type

from .gated_pixelcnn import GatedPixelCNN

if TYPE_CHECKING:
    from genkit_core import LatentVariableModel

__all__ = ["CodePixelCNN", "CodePixelCNNParams"]


class CodePixelCNNParams(Params):
    """The network's size and how it is fitted to the training codes."""

    channels: Annotated[int, Field(gt=0, le=4096)] = Field(
        64, description="Feature maps of each stack of the gated PixelCNN."
    )
    layers: Annotated[int, Field(gt=0, le=64)] = Field(
        6, description="Gated layers; the receptive field grows by kernel // 2 cells per layer."
    )
    kernel: Annotated[int, Field(ge=3, le=15)] = Field(
        3, description="Side of the vertical stack's masked kernel (odd)."
    )
    epochs: Annotated[int, Field(gt=0, le=10_000)] = Field(
        10, description="Passes over the training codes when the prior is fitted."
    )
    batch_size: Annotated[int, Field(gt=0, le=1 << 16)] = Field(
        128, description="Code grids per step of the fit."
    )
    lr: Annotated[float, Field(gt=0, le=1)] = Field(
        1e-3, description="Adam's learning rate for the fit."
    )
    seed: Annotated[int, Field(ge=0, lt=2**63)] = Field(
        0, description="Seeds the network's initial weights and the order of the codes."
    )


class _CodeGrid(Distribution):
    """The prior as a ``torch.distributions`` object: event shape ``(D, *grid)``."""

    arg_constraints: dict[str, Any] = {}  # noqa: RUF012 - torch's class attribute
    has_rsample = False

    def __init__(self, prior: CodePixelCNN, event_shape: tuple[int, ...]):
        self.prior = prior
        super().__init__(torch.Size(), torch.Size(event_shape), validate_args=False)

    def sample(self, sample_shape: _size = torch.Size()) -> Tensor:  # noqa: B008
        n = math.prod(sample_shape)
        return self.prior.sample(n).view(*sample_shape, *self.event_shape)

    def log_prob(self, value: Tensor) -> Tensor:
        lead = value.shape[: value.dim() - len(self.event_shape)]
        return self.prior.log_prob(value.reshape(-1, *self.event_shape)).view(lead)


class _Codebook(Protocol):
    """What code_pixelcnn needs of its posterior (``vq``): the codebook's size and lookups."""

    @property
    def num_codes(self) -> int: ...
    def embed(self, indices: Tensor) -> Tensor: ...
    def indices(self, z: Tensor) -> Tensor: ...


class CodePixelCNN(Prior):
    r""":math:`p(k) = \prod_{i,j} p(k_{ij} \mid k_{<ij})` over the grid of codebook indices of a
    ``vq`` posterior: a gated PixelCNN (van den Oord et al., 2016), as the VQ-VAE paper fits to
    its codes. It is ``fitted_after_training``: when training ends, the trainer encodes the
    training split and :meth:`fit` trains the network on the indices by maximum likelihood
    through the library's fitting loop (:func:`~genkit_core.training.fit_density.fit_density`:
    Adam, ``epochs`` passes, from a fresh initialisation seeded by ``seed``, so a fit depends
    on the codes alone). A draw is a grid of indices sampled cell by cell in raster order,
    mapped to the codebook's vectors; the density of a latent is that of its nearest entries'
    indices, in nats. Until it is fitted the network is untrained (its samples are noise).

    It needs a posterior over a codebook, which offers ``num_codes``, ``embed(indices)`` and
    ``indices(z)`` (``vq``); it keeps those bound methods (``bind``). Grids of one cell or one
    row are 1 x 1 and 1 x n grids.
    """

    Params = CodePixelCNNParams
    params: CodePixelCNNParams  # the validated section, narrowed from the interface
    fitted_after_training = True

    def __init__(self, params: CodePixelCNNParams, latent_dim: int):
        super().__init__(params, latent_dim)
        if params.kernel % 2 == 0:
            raise SpecError(f"kernel must be odd, not {params.kernel}", field="kernel")
        self._embed: Callable[[Tensor], Tensor] | None = None
        self._indices: Callable[[Tensor], Tensor] | None = None
        self._latent_shape: tuple[int, ...] = (latent_dim,)
        self._grid: tuple[int, int] = (1, 1)
        self.net: GatedPixelCNN | None = None

    def bind(self, model: LatentVariableModel) -> None:
        posterior = model.posterior
        if not all(hasattr(posterior, a) for a in ("num_codes", "embed", "indices")):
            raise SpecError(
                "code_pixelcnn models the indices of a codebook, and the "
                f"'{spec_type(posterior)}' posterior has none; use posterior: {{type: vq}}",
                field="prior.type",
            )
        codebook = cast(_Codebook, posterior)  # checked just above
        self._embed, self._indices = codebook.embed, codebook.indices
        self._latent_shape = tuple(posterior.latent_shape)
        grid = self._latent_shape[1:]
        if len(grid) > 2:
            raise SpecError(
                f"code_pixelcnn models grids of up to 2 dimensions, and the posterior's is {grid}",
                field="prior.type",
            )
        self._grid = (1, 1) if not grid else (1, grid[0]) if len(grid) == 1 else grid  # type: ignore[assignment]
        p = self.params
        self.net = GatedPixelCNN(codebook.num_codes, p.channels, p.layers, p.kernel)
        self.net.requires_grad_(False)  # fitted by fit(), never by the model's optimiser

    def distribution(self) -> Distribution:
        return _CodeGrid(self, self._latent_shape)

    def sample(self, n: int) -> Tensor:
        net, embed = self._bound()
        device = next(net.parameters()).device
        indices = net.sample(n, *self._grid, device=device)
        return embed(indices.view(n, *self._latent_shape[1:]))

    def log_prob(self, z: Tensor) -> Tensor:
        """``(B, D, *grid) -> (B,)``; leading sample axes are kept."""
        lead = z.shape[: z.dim() - len(self._latent_shape)]
        net, _ = self._bound()
        indices = self._indices(z.reshape(-1, *self._latent_shape))  # type: ignore[misc]
        return net.log_prob(indices.view(-1, *self._grid)).view(lead)

    def fit(self, codes: Tensor) -> None:
        """Train the network on the indices of ``(N, D, *grid)`` training codes."""
        from genkit_core.training.fit_density import fit_density  # the trainer's package: late

        net, _ = self._bound()
        p = self.params
        indices = self._indices(codes).view(-1, *self._grid)  # type: ignore[misc]
        fit_density(
            net, indices, lambda batch: -net.log_prob(batch),
            epochs=p.epochs, batch_size=p.batch_size, lr=p.lr, seed=p.seed,
        )  # fmt: skip

    def _bound(self) -> tuple[GatedPixelCNN, Callable[[Tensor], Tensor]]:
        if self.net is None or self._embed is None:
            raise RuntimeError("code_pixelcnn is used before the model bound its posterior")
        return self.net, self._embed
