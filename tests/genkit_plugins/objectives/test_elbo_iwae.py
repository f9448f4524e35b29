"""The elbo and iwae objectives against direct computations of their bounds."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Independent, Normal

from genkit_core import DataInfo, build_model
from genkit_core.testing import check_component, tiny_spec
from genkit_plugins.objectives.elbo import ELBO
from genkit_plugins.objectives.iwae import IWAE

INFO = DataInfo((1, 8, 8), num_classes=10, name="digits", train_size=64)


def _model(**sections):
    spec = tiny_spec(likelihood={"type": "bernoulli"}, **sections)
    model = build_model(spec, data=INFO)
    return model.eval()


@pytest.mark.parametrize(("cls", "params"), [(ELBO, {}), (IWAE, {"samples": 3})])
def test_keeps_the_objective_contract(cls, params):
    check_component(cls, params)


def test_elbo_is_reconstruction_plus_the_closed_form_kl():
    torch.manual_seed(0)
    model = _model()
    x, noise = torch.rand(5, 1, 8, 8), torch.randn(5, 1, 4)
    out = model(x, None, noise)
    q = model.posterior_of(x)
    mu, sigma = q.base_dist.loc, q.base_dist.scale
    z = mu + sigma * noise[:, 0]
    logits = model.decoder(z)[:, 0]
    recon = torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="none")
    kl = 0.5 * (mu**2 + sigma**2 - 2 * sigma.log() - 1).sum(-1)
    assert torch.allclose(out.terms["reconstruction"], recon.flatten(1).sum(-1), atol=1e-4)
    assert torch.allclose(out.terms["divergence"], kl, atol=1e-5)
    assert out.loss.item() == pytest.approx((recon.flatten(1).sum(-1) + kl).mean().item(), 1e-5)


def test_iwae_with_one_sample_equals_the_elbo():
    torch.manual_seed(1)
    elbo = _model(divergence={"type": "mc_kl"})
    iwae = _model(objective={"type": "iwae", "samples": 1}, divergence={"type": "mc_kl"})
    iwae.load_state_dict(elbo.state_dict())
    x, noise = torch.rand(6, 1, 8, 8), torch.randn(6, 1, 4)
    assert torch.allclose(iwae(x, None, noise).loss, elbo(x, None, noise).loss, atol=1e-5)


def test_iwae_bound_is_never_below_the_elbo_on_the_same_noise():
    """-IWAE loss >= K-sample ELBO per example: log-mean-exp >= mean (Jensen)."""
    torch.manual_seed(2)
    model = _model(objective={"type": "iwae", "samples": 8})
    x, noise = torch.rand(16, 1, 8, 8), torch.randn(16, 8, 4)
    out = model(x, None, noise)
    elbo_k = -(out.terms["reconstruction"] + out.terms["divergence"])
    q = model.posterior_of(x)
    z = q.base_dist.loc + q.base_dist.scale * noise.transpose(0, 1)
    log_w = (
        model.log_likelihood(x, z)
        + Independent(Normal(torch.zeros(4), torch.ones(4)), 1).log_prob(z)
        - q.log_prob(z)
    )
    bound = torch.logsumexp(log_w, 0) - math.log(8)
    assert torch.allclose(-out.loss, bound.mean(), atol=1e-4)
    assert torch.all(bound >= elbo_k - 1e-5)
    assert bound.mean() > elbo_k.mean()


def test_elbo_with_k_samples_averages_k_one_sample_elbos():
    torch.manual_seed(3)
    model = _model(objective={"type": "elbo", "samples": 3})
    x, noise = torch.rand(4, 1, 8, 8), torch.randn(4, 3, 4)
    averaged = model(x, None, noise).terms["reconstruction"]
    one_model = _model()
    one_model.load_state_dict(model.state_dict())
    each = [one_model(x, None, noise[:, k : k + 1]).terms["reconstruction"] for k in range(3)]
    assert torch.allclose(averaged, torch.stack(each).mean(0), atol=1e-5)


def test_iwae_refuses_an_autoencoder():
    from genkit_core import SpecError

    with pytest.raises(SpecError, match=r"objective.type: iwae weighs draws by their density"):
        build_model(tiny_spec(model="ae", objective={"type": "iwae"}), data=INFO)
