"""The hierarchical prior: its density by hand (standard normal and VampPrior tops), layers read
from the posterior, the flat case, and a two-layer VAE that trains and reloads.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from genkit_core import SpecError, build_model
from genkit_core.testing import check_component
from genkit_plugins.priors.hierarchical import HierarchicalPrior, HierarchicalPriorParams
from genkit_plugins.priors.vamp import VampPrior

POSTERIOR = {"type": "hierarchical", "layers": [{"latent_dim": 3, "hidden": [5, 7]}]}
VAMP_TOP = {"type": "vamp", "components": 6}


def _log_normal(z, mu, sigma):
    return (-0.5 * ((z - mu) / sigma) ** 2 - sigma.log() - 0.5 * math.log(2 * math.pi)).sum(-1)


def _gaussian(net, parent):
    mu, log_var = net(parent).chunk(2, -1)
    return mu, (0.5 * log_var).exp()


def _two_layer(spec_dict, top=None):
    prior = {"type": "hierarchical", **({"top": top} if top else {})}
    return build_model(spec_dict(posterior=POSTERIOR, prior=prior))


@pytest.mark.parametrize("top", [None, VAMP_TOP], ids=["standard_normal", "vamp"])
def test_keeps_the_prior_contract_over_a_hierarchical_posterior(top):
    params = {"top": top} if top else {}
    check_component(HierarchicalPrior, params, model={"posterior": POSTERIOR})


def test_log_prob_is_the_top_layer_plus_each_layer_given_the_one_above(spec_dict):
    model = _two_layer(spec_dict)
    z = torch.randn(2, 6, 7)  # (S, B, L1 + L2): latents with a leading sample axis
    z1, z2 = z.split([4, 3], -1)
    mu, sigma = _gaussian(model.prior.downward[0].net, z2)
    top = _log_normal(z2, torch.zeros(3), torch.ones(3))
    assert torch.allclose(model.prior.log_prob(z), top + _log_normal(z1, mu, sigma), atol=1e-5)


def test_a_vamp_top_mixes_the_top_posterior_at_each_pseudo_input(spec_dict):
    model = _two_layer(spec_dict, VAMP_TOP)
    prior, posterior = model.prior, model.posterior
    u = prior.top.pseudo_inputs
    assert u.shape == (6, 1, 8, 8)
    code_z1, _ = _gaussian(posterior.bottom.net, model.encoder(u))  # z1's code at each u
    mu_k, sigma_k = (t.detach() for t in _gaussian(posterior.upward[0].net, code_z1))
    z = torch.randn(5, 7)
    z1, z2 = z.split([4, 3], -1)
    top = torch.logsumexp(_log_normal(z2[:, None], mu_k, sigma_k), dim=1) - math.log(6)
    mu, sigma = _gaussian(model.prior.downward[0].net, z2)
    log_p = prior.log_prob(z)
    assert torch.allclose(log_p, top + _log_normal(z1, mu, sigma), atol=1e-5)
    log_p.sum().backward()
    assert u.grad.abs().sum() > 0  # the pseudo-inputs learn through the top layer's posterior
    assert posterior.upward[0].net[0].weight.grad.abs().sum() > 0


def test_the_layers_mirror_the_posteriors(spec_dict):
    model = _two_layer(spec_dict)
    widths = [m.out_features for m in model.prior.downward[0].net if hasattr(m, "out_features")]
    assert widths == [7, 5, 2 * 4]  # z2 -> reversed hidden -> mean and log-variance of z1
    assert model.prior.downward[0].net[0].in_features == 3
    assert model.prior.sample(9).shape == (9, 7)
    assert model.sample(9).shape == (9, 1, 8, 8)


def test_over_a_flat_posterior_it_is_its_top_distribution(spec_dict):
    model = build_model(spec_dict(prior={"type": "hierarchical", "top": VAMP_TOP}))
    reference = build_model(spec_dict(prior={"type": "vamp", "components": 6}))
    reference.load_state_dict(
        {k.replace("prior.top.", "prior."): v for k, v in model.state_dict().items()}
    )
    z = torch.randn(5, 4)
    assert torch.allclose(model.prior.log_prob(z), reference.prior.log_prob(z))
    normal = build_model(spec_dict(prior={"type": "hierarchical"}))
    assert normal.spec.divergence.estimator == "analytic"  # the closed-form KL still applies


def test_a_posterior_whose_latents_are_not_a_vector_is_refused():
    prior = HierarchicalPrior(HierarchicalPriorParams(), 4)
    grid = SimpleNamespace(posterior=SimpleNamespace(latent_shape=(2, 2)))
    with pytest.raises(SpecError, match=r"shape \(2, 2\); use posterior: \{type: hierarchical"):
        prior.bind(grid)  # type: ignore[arg-type]


def test_used_before_it_is_bound_it_says_so():
    with pytest.raises(RuntimeError, match="before the model bound it"):
        HierarchicalPrior(HierarchicalPriorParams(), 4).distribution()


@pytest.mark.parametrize("top", [None, VAMP_TOP], ids=["standard_normal", "vamp"])
def test_a_two_layer_vae_trains_and_reloads(spec_dict, adam_steps, top):
    model = _two_layer(spec_dict, top)
    assert model.spec.divergence.estimator == "monte_carlo"  # no closed form for a hierarchy
    assert isinstance(model.prior.top, VampPrior) == bool(top)
    x = torch.rand(16, 1, 8, 8).round()
    losses = adam_steps(model, x, lambda: torch.randn(16, 7), steps=15)
    assert math.isfinite(losses[-1]) and losses[-1] < losses[0]
    again = _two_layer(spec_dict, top)
    again.load_state_dict(model.state_dict())  # strict: the same keys, bound in the constructor
    z = torch.randn(3, 7)
    assert torch.equal(again.prior.log_prob(z), model.prior.log_prob(z))
