"""The one model class: reparameterisation, the loss and its terms, encode/decode/sample."""

from __future__ import annotations

import pytest
import torch

from genkit_core import build_model


def test_reparameterisation_sends_gradients_to_mu_and_sigma(spec_dict):
    model = build_model(spec_dict())
    x = torch.rand(8, 1, 8, 8)
    q = model.posterior_of(x)
    mu, sigma = q.base_dist.loc, q.base_dist.scale
    mu.retain_grad()
    sigma.retain_grad()
    eps = torch.randn(8, 4)
    z = mu + sigma * eps
    loss = -model.likelihood.log_prob(x, model.decode(z)).sum()
    loss.backward()
    # dL/dsigma = dL/dz * eps and dL/dmu = dL/dz by the chain rule through z = mu + sigma * eps
    assert torch.allclose(sigma.grad, mu.grad * eps, atol=1e-6)
    assert mu.grad.abs().sum() > 0


def test_forward_uses_the_given_noise_exactly(spec_dict):
    model = build_model(spec_dict())
    x = torch.rand(5, 1, 8, 8)
    eps = torch.randn(5, 4)
    q = model.posterior_of(x)
    z = q.base_dist.loc + q.base_dist.scale * eps
    expected = -model.likelihood.log_prob(x, model.decode(z))
    assert torch.allclose(model(x, noise=eps).terms["reconstruction"], expected)


def test_vae_loss_is_batch_mean_of_reconstruction_plus_kl(spec_dict):
    model = build_model(spec_dict())
    out = model(torch.rand(6, 1, 8, 8), noise=torch.zeros(6, 4))
    expected = (out.terms["reconstruction"] + out.terms["divergence"]).mean()
    assert torch.allclose(out.loss, expected)


def test_the_label_takes_no_part_in_the_cvae_loss(spec_dict, monkeypatch):
    model = build_model(spec_dict(model="cvae"))
    x, y = torch.rand(4, 1, 8, 8), torch.tensor([0, 3, 5, 9])
    seen = []
    original = model.likelihood.log_prob
    monkeypatch.setattr(
        model.likelihood,
        "log_prob",
        lambda data, params: seen.append(data) or original(data, params),
    )
    out = model(x, y, noise=torch.zeros(4, 4))
    assert seen[0] is x  # the target is the data alone, not data joined with the label
    assert set(out.terms) == {"reconstruction", "divergence"}
    other = model(x, torch.tensor([1, 1, 1, 1]), noise=torch.zeros(4, 4))
    assert not torch.allclose(out.terms["reconstruction"], other.terms["reconstruction"])


def test_ae_has_a_deterministic_code_and_no_divergence(spec_dict):
    model = build_model(spec_dict(model="ae"))
    x = torch.rand(3, 1, 8, 8)
    assert torch.equal(model.encode(x), model.encode(x))
    assert set(model(x).terms) == {"reconstruction"}
    with pytest.raises(TypeError, match="this model has no prior to sample from: train a vae"):
        model.sample(2)


def test_sampling_and_encoding_in_eval_mode_build_no_graph(spec_dict):
    """A new user's report: ``model.sample(16).numpy()`` raised, the tensor required grad."""
    model = build_model(spec_dict()).eval()
    x = torch.rand(3, 1, 8, 8)
    for out in (model.sample(4), model.encode(x), model.reconstruct(x)):
        assert not out.requires_grad
        out.numpy()
    assert model.train().encode(x).requires_grad  # training code still gets its gradients


def test_an_ae_with_a_prior_fitted_after_training_samples(spec_dict, tmp_path):
    from genkit_core.training import Trainer

    spec = spec_dict(model="ae", prior={"type": "code_gaussian"})
    result = Trainer(spec, tmp_path / "run", stream=None).fit()
    assert (result.run_dir / "samples.png").is_file()
    from genkit_core.run import load_run

    model = load_run(result.run_dir)
    prior = model.prior.distribution()
    assert not torch.equal(prior.mean, torch.zeros(4))  # fitted to the codes, and saved
    assert model.sample(5).shape == (5, 1, 8, 8)


def test_shapes_of_encode_decode_reconstruct_and_sample(spec_dict):
    model = build_model(spec_dict(model="cvae"))
    x, y = torch.rand(3, 1, 8, 8), torch.tensor([1, 2, 3])
    assert model.encode(x, y).shape == (3, 4)
    assert model.decode(torch.zeros(3, 4), y).shape == (3, 1, 1, 8, 8)
    assert model.reconstruct(x, y).shape == (3, 1, 8, 8)
    assert model.sample(12).shape == (12, 1, 8, 8)
    assert model.sample(2, torch.tensor([7, 7])).shape == (2, 1, 8, 8)
