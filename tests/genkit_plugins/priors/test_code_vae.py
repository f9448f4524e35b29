"""code_vae: the fit's loss is Dai and Wipf's negative ELBO with a learned output variance,
and log_prob the importance-weighted bound, each against torch.distributions."""

from __future__ import annotations

import math

import torch
from torch.distributions import Normal, kl_divergence

from genkit_plugins.priors.code_vae import CodeVAE

from .test_code_samplers import codes, small


def _fitted() -> CodeVAE:
    prior = small(CodeVAE)
    prior.fit(codes())
    with torch.no_grad():
        prior.net.log_gamma.fill_(-0.7)  # not the initial 0, so gamma's place is checked
    assert isinstance(prior, CodeVAE)
    return prior


def test_the_loss_is_the_negative_elbo_with_a_learned_output_variance():
    prior, u = _fitted(), torch.randn(6, 3)
    torch.manual_seed(4)
    loss = prior.loss(u)
    torch.manual_seed(4)
    mean, log_var = prior.net.encoder(u).chunk(2, dim=-1)
    q = Normal(mean, (0.5 * log_var).exp())
    w = mean + q.scale * torch.randn_like(mean)
    gamma = prior.net.log_gamma.exp()
    log_p = Normal(prior.net.decoder(w), gamma.sqrt()).log_prob(u).sum(-1)
    kl = kl_divergence(q, Normal(0.0, 1.0)).sum(-1)
    assert torch.allclose(loss, -log_p + kl, atol=1e-5)


def test_log_prob_is_the_importance_weighted_bound():
    prior, z = _fitted(), codes(4, seed=5)
    k = prior.params.iw_samples
    u = (z - prior.shift) / prior.scale
    mean, log_var = prior.net.encoder(u).chunk(2, dim=-1)
    q = Normal(mean, (0.5 * log_var).exp())
    g = torch.Generator().manual_seed(prior.params.seed)
    w = mean + q.scale * torch.randn(k, *mean.shape, generator=g)
    p_u = Normal(prior.net.decoder(w), prior.net.log_gamma.exp().sqrt())
    log_w = p_u.log_prob(u).sum(-1) + Normal(0.0, 1.0).log_prob(w).sum(-1) - q.log_prob(w).sum(-1)
    expected = torch.logsumexp(log_w, 0) - math.log(k) - prior.scale.log().sum()
    assert torch.allclose(prior.log_prob(z), expected, atol=1e-4)
    assert torch.equal(prior.log_prob(z), prior.log_prob(z))  # repeatable
