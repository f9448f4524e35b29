"""The negative evidence lower bound: the standard VAE loss (and an autoencoder's)."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor

from genkit_core import Draw, LatentVariableModel, Objective, ObjectiveOutput, ObjectiveParams

__all__ = ["ELBO"]


class ELBO(Objective):
    r"""The negative ELBO, per example, averaged over the batch:

    .. math:: -\frac1K \sum_{k=1}^K \log p(x|z_k) \;+\; \beta\, w(t)\, D(q(z|x) \,\|\, p(z)),
        \qquad z_k \sim q(z|x),

    with the divergence's modifiers (beta, annealing, free bits) and any loss terms the
    posterior adds (a codebook's commitment). With the ``gaussian_kl`` divergence D is the KL,
    in closed form where there is one; without a divergence (an autoencoder) only the
    reconstruction term remains. ``samples`` K > 1 averages K draws per example (Burda et
    al.'s "VAE with k samples"); the terms are then the averages over the K draws.
    """

    Params = ObjectiveParams
    loss_is_elbo: ClassVar[bool] = True
    """Its test loss is the negative ELBO (with the divergence's modifiers): what ``genkit
    train`` says of it. A subclass that adds to the loss sets it false."""

    def term_names(self, model: LatentVariableModel) -> tuple[str, ...]:
        names = ["reconstruction"]
        if model.divergence is not None:
            names += ["divergence", *model.divergence.parts]
        return (*names, *model.posterior.terms)

    def forward(
        self,
        model: LatentVariableModel,
        x: Tensor,
        y: Tensor | None,
        noise: Tensor,
        step: Tensor | None,
    ) -> ObjectiveOutput:
        B, K = x.shape[0], self.samples
        loss, terms, _ = self.negative_elbo(model, x, y, noise, step)
        if K > 1:
            terms = {name: value.view(K, B).mean(0) for name, value in terms.items()}
        return ObjectiveOutput({"model": loss}, terms)

    def negative_elbo(
        self,
        model: LatentVariableModel,
        x: Tensor,
        y: Tensor | None,
        noise: Tensor,
        step: Tensor | None,
    ) -> tuple[Tensor, dict[str, Tensor], Draw]:
        """The loss, the per-example terms of ``K * B`` draws (sample-major) and the draw: what
        objectives that add a term of their own to the ELBO (``rae``, ``factor_vae``) build on.
        """
        K = self.samples
        h = model.features(x, y)
        if K == 1:
            noise = noise[:, 0]
        else:  # K copies of the batch, sample-major, so every term is one batch of K * B
            noise = noise.transpose(0, 1).flatten(0, 1)
            h, x = _repeat(h, K), _repeat(x, K)
            y = None if y is None else _repeat(y, K)
        q = model.posterior(h)
        draw = model.posterior.sample(q, noise)
        reconstruction = -model.log_likelihood(x, draw.z, y)
        loss = reconstruction.mean()
        terms = {"reconstruction": reconstruction}
        if model.divergence is not None and model.prior is not None:
            p = model.prior.distribution()
            penalty = model.divergence.penalty(q, p, draw.z, draw.log_q, step)
            loss = loss + penalty.loss
            terms["divergence"] = penalty.value
            terms.update(penalty.parts)
        for name, value in draw.terms.items():
            loss = loss + value.mean()
            terms[name] = value
        return loss, terms, draw


def _repeat(t: Tensor, k: int) -> Tensor:
    """``(B, ...)`` -> ``(k * B, ...)``: k copies of the batch, one after another."""
    return t.expand(k, *t.shape).flatten(0, 1)
