"""factor_vae: the discriminator's loss never reaches the encoder's gradient (the leak Pythae's
adversarial trainer has), its terms against direct computations, and the models it refuses."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from genkit_core import SpecError, build_model
from genkit_core.spec import TrainSpec
from genkit_core.testing import check_component, tiny_spec
from genkit_core.training.optim import OptimizerGroups, parameter_groups
from genkit_core.training.step import TrainStep
from genkit_plugins.objectives.factor_vae import FactorVAE, permute_dims

CPU = torch.device("cpu")
OBJECTIVE = {"type": "factor_vae", "gamma": 6.4, "hidden": [16, 16]}


def _model():
    torch.manual_seed(0)
    return build_model(tiny_spec(objective=OBJECTIVE))


def test_keeps_the_objective_contract():
    check_component(FactorVAE, {"hidden": [8]})


def test_the_encoders_gradient_is_that_of_the_model_loss_alone():
    """The trainer's step against autograd on the model's loss alone. Summing both losses before
    the encoder's step, as Pythae's CoupledOptimizerAdversarialTrainer does (backward on the
    autoencoder's loss, then on the discriminator's, then both steps), changes the encoder's
    gradient: the discriminator's loss reaches the encoder through the codes it classifies."""
    model = _model()
    groups = parameter_groups(model)
    step = TrainStep(model, model, OptimizerGroups(TrainSpec(), groups, CPU, False), groups, CPU)
    encoder = list(model.encoder.parameters())
    x, noise = torch.rand(16, 1, 8, 8), torch.randn(16, 1, 4)
    with torch.random.fork_rng():  # the shuffle's order: the step draws the same one again
        out = model(x, None, noise)
        model_loss, disc_loss = out.losses["model"], out.losses["discriminator"]
        want = torch.autograd.grad(model_loss, encoder, retain_graph=True)
        want_disc = torch.autograd.grad(disc_loss, groups["discriminator"], retain_graph=True)
        pythae = torch.autograd.grad(model_loss + disc_loss, encoder)
    step(x, None, noise)
    for p, g in zip(encoder, want, strict=True):
        assert torch.allclose(p.grad, g, atol=1e-6)
    for p, g in zip(groups["discriminator"], want_disc, strict=True):
        assert torch.allclose(p.grad, g, atol=1e-6)
    assert any(not torch.allclose(g, h, atol=1e-6) for g, h in zip(want, pythae, strict=True))
    assert set(map(id, groups["discriminator"])) == set(
        map(id, model.objective.discriminator.parameters())
    )


def test_the_terms_are_the_logit_gap_and_the_discriminators_cross_entropy():
    model = _model()
    x, noise = torch.rand(8, 1, 8, 8), torch.randn(8, 1, 4)
    with torch.random.fork_rng():
        out = model(x, None, noise)
    draw = model.posterior.sample(model.posterior_of(x), noise[:, 0])
    d = model.objective.discriminator
    logits = d(draw.z)
    shuffled = permute_dims(draw.z, torch.rand_like(draw.z))  # the same draws: RNG restored
    expected_tc = logits[:, 0] - logits[:, 1]
    expected_d = 0.5 * (-F.log_softmax(logits, 1)[:, 0] - F.log_softmax(d(shuffled), 1)[:, 1])
    assert torch.allclose(out.terms["total_correlation"], expected_tc, atol=1e-5)
    assert torch.allclose(out.terms["discriminator"], expected_d, atol=1e-5)
    elbo = out.terms["reconstruction"] + out.terms["divergence"]
    assert out.losses["model"].item() == pytest.approx(
        (elbo + 6.4 * expected_tc).mean().item(), rel=1e-5
    )


def test_the_shuffle_permutes_each_dimension_on_its_own():
    z = torch.arange(40.0).view(10, 4)
    shuffled = permute_dims(z, torch.rand(10, 4, generator=torch.Generator().manual_seed(0)))
    for j in range(4):
        assert sorted(shuffled[:, j].tolist()) == z[:, j].tolist()
    orders = {tuple(shuffled[:, j].argsort().tolist()) for j in range(4)}
    assert len(orders) > 1  # the dimensions are not shuffled together


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"model": "ae"}, "factor_vae adds a total-correlation penalty to a VAE",
                     id="autoencoder"),
        pytest.param({"objective": {**OBJECTIVE, "samples": 2}}, "factor_vae.s discriminator reads",
                     id="k-samples"),
    ],
)  # fmt: skip
def test_models_it_cannot_train_are_refused(changes, message):
    spec = tiny_spec(objective=OBJECTIVE)
    spec.update(changes)
    with pytest.raises(SpecError, match=rf"objective.type: {message}"):
        build_model(spec)
