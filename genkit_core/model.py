r"""``LatentVariableModel``: the one model class, composed from components.

x (with the condition y, for a CVAE) -> encoder features h -> posterior q(z|x) -> a
reparameterised draw z with :math:`\log q(z|x)` -> decoder -> likelihood :math:`p(x|z)`, with a
prior p(z) and a divergence D(q || p) where the model has them. The objective turns these into
the training loss: the negative ELBO
:math:`-\log p(x|z) + \mathrm{KL}(q(z|x) \,\|\, p(z))` per example by default.

``ae``, ``vae`` and ``cvae`` are shorthands of the spec (:mod:`genkit_core.spec.kinds`): an AE
has a point-mass posterior and no divergence; a CVAE joins y to the encoder's input and the
decoder's latent through its conditioner, and y takes no part in the loss.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from .errors import DataError
from .interfaces import (
    Conditioner,
    DataBundle,
    DataInfo,
    Decoder,
    Divergence,
    Encoder,
    Likelihood,
    Objective,
    ObjectiveOutput,
    Posterior,
    Prior,
)

if TYPE_CHECKING:
    from .spec import ModelSpec

__all__ = ["LatentVariableModel", "ModelOutput"]

ModelOutput = ObjectiveOutput
"""What ``model(x, y, noise, step)`` returns: the objective's losses and per-example terms."""

_F = TypeVar("_F", bound=Callable[..., Any])


def _no_grad_in_eval(method: _F) -> _F:
    """Run ``method`` without building a graph when the model is in eval mode."""

    @functools.wraps(method)
    def wrapper(self: LatentVariableModel, *args: Any, **kwargs: Any) -> Any:
        if self.training:
            return method(self, *args, **kwargs)
        with torch.no_grad():
            return method(self, *args, **kwargs)

    return cast(_F, wrapper)


class LatentVariableModel(nn.Module):
    """A latent-variable model from its components.

    Args:
        kind: the model kind, the spec's ``model:`` shorthand ``ae``, ``vae`` or ``cvae`` (for
            messages and file names); not a component kind, which each component's class
            names (``Prior.kind == "prior"``).
        latent_dim: L, the spec's ``latent_dim``.
        data: shape and labels of the data the model is built for.
        encoder: data (after the conditioner) to features.
        posterior: features to q(z|x), its draws and codes.
        decoder: the decoder's part of z (after the conditioner) to likelihood parameters.
        likelihood: p(x | decoder output).
        objective: the training loss.
        prior: p(z), or None.
        divergence: D(q || p) in the loss, or None (it needs a prior).
        conditioner: joins y to x and z (a cvae), or None.
        spec: the resolved spec the model was built from, when there is one.
    """

    def __init__(
        self,
        kind: str,
        latent_dim: int,
        data: DataInfo,
        encoder: Encoder,
        posterior: Posterior,
        decoder: Decoder,
        likelihood: Likelihood,
        objective: Objective,
        prior: Prior | None = None,
        divergence: Divergence | None = None,
        conditioner: Conditioner | None = None,
        spec: ModelSpec | None = None,
    ):
        super().__init__()
        if divergence is not None and prior is None:
            raise ValueError("a divergence needs a prior to compare the posterior with")
        self.kind = kind
        self.latent_dim = int(latent_dim)
        self.data_info = data
        self.encoder = encoder
        self.posterior = posterior
        self.decoder = decoder
        self.likelihood = likelihood
        self.prior = prior
        self.divergence = divergence
        self.conditioner = conditioner
        self.objective = objective
        self.spec: ModelSpec | None = spec
        if prior is not None:
            prior.bind(self)
        self.terms: tuple[str, ...] = tuple(objective.term_names(self))
        """The per-example terms ``forward`` returns, in order (what the trainer logs)."""

    # --- what the model is ---------------------------------------------------------------

    @property
    def is_variational(self) -> bool:
        """Whether q(z|x) has a density and p(z) is a model prior: the ELBO and the
        importance-weighted bound are defined (a VAE or CVAE, not an AE).
        """
        return (
            self.posterior.stochastic
            and self.prior is not None
            and not self.prior.fitted_after_training
        )

    @property
    def can_sample(self) -> bool:
        """Whether there is a prior to draw latents from (a VAE's, or an AE's fitted one)."""
        return self.prior is not None

    @property
    def noise_shape(self) -> tuple[int, ...]:
        """The noise the objective needs per example: ``(K, *posterior.noise_shape)``."""
        return (self.objective.samples, *self.posterior.noise_shape)

    # --- the pieces every objective, evaluation and figure uses ----------------------------

    def features(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """The encoder's features of ``x`` ``(B, *data_shape)`` (joined with y for a cvae)."""
        if self.conditioner is not None:
            x = self.conditioner.join_input(x, _required(y))
        return self.encoder(x)

    def posterior_of(self, x: Tensor, y: Tensor | None = None) -> Distribution:
        """q(z|x[, y]) with batch shape ``(B,)``."""
        return self.posterior(self.features(x, y))

    def decode(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """Likelihood parameters ``(N, P, *data_shape)`` for latents ``(N, *latent_shape)``.

        A decoder without ``shaped_input`` gets the latent flattened to ``(N, in_features)``.
        """
        z = self.posterior.decoder_input(z)
        if self.conditioner is not None:
            z = self.conditioner.join_latent(z, _required(y))
        if not self.decoder.shaped_input:
            z = z.flatten(1)
        return self.decoder(z)

    def log_likelihood(self, x: Tensor, z: Tensor, y: Tensor | None = None) -> Tensor:
        r""":math:`\log p(x|z)` in nats, ``(*S, B)`` for latents ``(*S, B, *latent_shape)``.

        Leading sample dimensions S (importance samples) are flattened into one decoder call.
        """
        latent = len(self.posterior.latent_shape)
        lead = z.shape[: z.dim() - latent]
        if len(lead) == 1:
            return self.likelihood.log_prob(x, self.decode(z, y))
        flat_z = z.reshape(-1, *z.shape[len(lead) :])
        copies = flat_z.shape[0] // x.shape[0]
        flat_x = x.expand(copies, *x.shape).reshape(-1, *x.shape[1:])
        flat_y = None if y is None else y.expand(copies, *y.shape).reshape(-1, *y.shape[1:])
        return self.likelihood.log_prob(flat_x, self.decode(flat_z, flat_y)).view(lead)

    # --- using a model -------------------------------------------------------------------

    @_no_grad_in_eval
    def encode(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """The code ``(B, *latent_shape)``: the posterior mean, or the deterministic code."""
        return self.posterior.code(self.posterior_of(x, y))

    @_no_grad_in_eval
    def reconstruct(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """The likelihood mean of x's code, ``(B, *data_shape)``."""
        return self.likelihood.mean(self.decode(self.encode(x, y), y))

    @_no_grad_in_eval
    def sample(self, n: int, labels: Tensor | None = None, mean: bool = True) -> Tensor:
        """Generate ``(n, *data_shape)`` from the prior: the likelihood's mean, or a draw.

        Args:
            n: how many.
            labels: conditions for a cvae, ``(n,)`` labels or ``(n, C)`` vectors. With class
                labels and none given, the classes are cycled: 0, 1, ..., K-1, 0, ...
            mean: show the likelihood's mean (sharper) instead of a sample from it.
        """
        if self.prior is None:
            raise TypeError(
                "this model has no prior to sample from: train a vae, or give an ae a prior "
                "fitted after training (prior: {type: code_gaussian})"
            )
        z = self.prior.sample(n)
        if self.conditioner is not None and labels is None:
            classes = self.data_info.num_classes
            if classes is None:
                raise ValueError("this cvae is conditioned on vectors; pass labels=(n, C)")
            labels = torch.arange(n, device=z.device) % classes
        params = self.decode(z, labels)
        return self.likelihood.mean(params) if mean else self.likelihood.sample(params)

    def check_support(self, data: DataBundle) -> None:
        """Refuse data outside the likelihood's support, before a first step or a measure.

        Raises:
            DataError: names the split and what is wrong (``values outside [0, 1]``, ...).
        """
        from .data import as_float, chunk_rows

        for name, split in (("train", data.train), ("test", data.test)):
            if not isinstance(split.x, Tensor):
                continue
            rows = chunk_rows(split.x)
            for start in range(0, len(split.x), rows):
                problem = self.likelihood.support_error(as_float(split.x[start : start + rows]))
                if problem:
                    source = self.spec.data.type if self.spec is not None else "data"
                    raise DataError(f"data '{source}', {name} split: {problem}")

    @torch.no_grad()
    def codes_of(self, batches: Iterable[tuple[Tensor, Tensor | None]]) -> Tensor:
        """The codes ``(N, *latent_shape)`` of every batch (posterior means, or an AE's codes),
        in eval mode; the model's mode is restored.
        """
        from .data import as_float

        was_training = self.training
        self.eval()
        codes = torch.cat([self.encode(as_float(x), y) for x, y in batches])
        self.train(was_training)
        return codes

    @torch.no_grad()
    def fit_prior(self, batches: Iterable[tuple[Tensor, Tensor | None]]) -> None:
        """Fit a prior that is fitted after training (``fitted_after_training``) to the codes of
        ``batches`` (the whole training split, as trained on); other priors are left alone.
        """
        if self.prior is None or not self.prior.fitted_after_training:
            return
        self.prior.fit(self.codes_of(batches))

    def forward(
        self,
        x: Tensor,
        y: Tensor | None = None,
        noise: Tensor | None = None,
        step: Tensor | None = None,
    ) -> ObjectiveOutput:
        """The objective's losses and per-example terms for a batch.

        Args:
            x: ``(B, *data_shape)`` data.
            y: ``(B,)`` labels or ``(B, C)`` conditions (cvae only).
            noise: ``(B, *noise_shape)`` standard normal noise (see :attr:`noise_shape`); drawn
                with ``torch.randn`` when None. The trainer passes its own so that runs are
                reproducible across devices, processes and resumption.
            step: the optimisation step (a tensor) for annealed terms.
        """
        if noise is None or math.prod(self.noise_shape) == 0:  # a point mass needs none
            noise = torch.randn(x.shape[0], *self.noise_shape, device=x.device)
        elif noise.dim() == len(self.noise_shape):  # one sample each, without its K axis
            noise = noise.unsqueeze(1)
        if tuple(noise.shape[1:]) != self.noise_shape:
            raise ValueError(
                f"noise of shape {tuple(noise.shape)} for a model that draws "
                f"(B, *{self.noise_shape}) (K samples of the posterior's noise)"
            )
        return self.objective(self, x, y, noise, step)


def _required(y: Tensor | None) -> Tensor:
    if y is None:
        raise ValueError("a cvae needs its condition y (labels) for every batch")
    return y
