"""Optimiser groups: each group's loss reaches its own parameters only, each group has its own
optimiser settings, and every optimiser is checkpointed and restored exactly.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from genkit_core import (
    Component,
    Objective,
    ObjectiveOutput,
    SpecError,
    build_model,
    hookimpl,
)
from genkit_core.files import read_tensors
from genkit_core.spec import TrainSpec
from genkit_core.testing import fresh_registry, tiny_spec
from genkit_core.training import Trainer
from genkit_core.training.optim import OptimizerGroups, parameter_groups
from genkit_core.training.step import TrainStep

CPU = torch.device("cpu")


class Critic(Objective):
    """A negative ELBO plus a critic that tells codes from prior draws (an adversarial pair).

    Neither loss is detached from the other's parameters, so any leak between the groups
    would show in the gradients.
    """

    groups = ("model", "critic")

    def __init__(self, params, latent_dim):
        super().__init__(params, latent_dim)
        self.critic = nn.Sequential(nn.Linear(latent_dim, 8), nn.Tanh(), nn.Linear(8, 1))

    def term_names(self, model):
        return ("reconstruction", "divergence", "critic")

    def parameter_groups(self, model):
        own = list(self.critic.parameters())
        ids = {id(p) for p in own}
        return {"model": [p for p in model.parameters() if id(p) not in ids], "critic": own}

    def losses(self, model, x, noise):
        q = model.posterior_of(x)
        draw = model.posterior.sample(q, noise[:, 0])
        reconstruction = -model.log_likelihood(x, draw.z)
        divergence = model.divergence(q, model.prior.distribution(), draw.z, draw.log_q)
        fake = self.critic(draw.z).squeeze(-1)
        real = self.critic(model.prior.sample(x.shape[0])).squeeze(-1)
        critic = F.softplus(-real) + F.softplus(fake)
        model_loss = (reconstruction + divergence - 0.5 * fake).mean()
        return model_loss, critic.mean(), (reconstruction, divergence, critic)

    def forward(self, model, x, y, noise, step):
        model_loss, critic_loss, terms = self.losses(model, x, noise)
        names = self.term_names(model)
        return ObjectiveOutput(
            {"model": model_loss, "critic": critic_loss}, dict(zip(names, terms, strict=True))
        )


class _Plugin:
    @hookimpl
    def genkit_components(self):
        return [Component("critic", Critic)]


def _registry():
    return fresh_registry(_Plugin())


def _spec(**train):
    spec = tiny_spec(objective={"type": "critic"}, likelihood={"type": "bernoulli"})
    spec["train"] = {**spec["train"], "batch_size": 32, **train}
    return spec


def test_each_groups_loss_reaches_its_own_parameters_only():
    registry = _registry()
    model = build_model(_spec(), registry=registry)
    groups = parameter_groups(model)
    optimizers = OptimizerGroups(TrainSpec(), groups, CPU, capturable=False)
    step = TrainStep(model, model, optimizers, groups, CPU)
    torch.manual_seed(0)
    x, noise = torch.rand(16, 1, 8, 8), torch.randn(16, 1, 4)
    with torch.random.fork_rng():
        model_loss, critic_loss, _ = model.objective.losses(model, x, noise)
        want_model = torch.autograd.grad(model_loss, groups["model"], retain_graph=True)
        want_critic = torch.autograd.grad(critic_loss, groups["critic"])
    step(x, None, noise)
    for p, g in zip(groups["model"], want_model, strict=True):
        assert torch.allclose(p.grad, g, atol=1e-6)
    for p, g in zip(groups["critic"], want_critic, strict=True):
        assert torch.allclose(p.grad, g, atol=1e-6)
    # the leak this rules out: the critic's loss does reach the encoder through the codes
    leaked = torch.autograd.grad(
        model.objective.losses(model, x, noise)[1], model.encoder.parameters()
    )
    assert any(g.abs().sum() > 0 for g in leaked)


def test_a_group_takes_its_own_optimiser_settings():
    model = build_model(_spec(), registry=_registry())
    groups = parameter_groups(model)
    train = TrainSpec(lr=1e-3, optimizers={"critic": {"type": "sgd", "lr": 0.5}})
    optimizers = OptimizerGroups(train, groups, CPU, capturable=False)
    assert isinstance(optimizers["critic"], torch.optim.SGD)
    assert optimizers["critic"].param_groups[0]["lr"] == 0.5
    assert isinstance(optimizers["model"], torch.optim.Adam)
    assert optimizers["model"].param_groups[0]["lr"] == 1e-3
    optimizers.scale_lr(0.1)
    assert optimizers["critic"].param_groups[0]["lr"] == pytest.approx(0.05)


def test_an_unknown_group_is_named():
    with pytest.raises(SpecError, match=r"train.optimizers.disc: the objective 'critic' has"):
        Trainer(_spec(optimizers={"disc": {"lr": 0.1}}), "unused", registry=_registry()).fit()


def test_groups_must_cover_every_parameter_once():
    from genkit_core import PluginError

    class Greedy(Critic):
        def parameter_groups(self, model):
            return {"model": list(model.parameters()), "critic": list(self.critic.parameters())}

    model = build_model(_spec(), registry=_registry())
    model.objective.__class__ = Greedy
    with pytest.raises(PluginError, match="objective 'critic' puts a parameter in model and"):
        parameter_groups(model)


def test_metrics_log_each_groups_loss(tmp_path: Path):
    Trainer(_spec(), tmp_path / "run", registry=_registry(), stream=None).fit()
    row = next(csv.DictReader((tmp_path / "run" / "metrics.csv").open()))
    assert {"train_loss", "train_critic_loss", "train_critic", "test_critic_loss"} <= set(row)


def test_every_optimiser_is_checkpointed_and_the_resume_is_exact(tmp_path: Path, monkeypatch):
    spec = _spec(epochs=2, checkpoint_every=3)
    reference = tmp_path / "reference"
    Trainer(spec, reference, registry=_registry(), stream=None).fit()
    state = read_tensors(reference / "checkpoint.safetensors")[1]["state"]
    assert "optimizers" in str(state) and "critic" in str(state)

    original = TrainStep.__call__

    def interrupt_at_step_5(self, *args, **kwargs):
        original(self, *args, **kwargs)
        if int(self.step_t) == 5:
            raise KeyboardInterrupt

    run = tmp_path / "run"
    monkeypatch.setattr(TrainStep, "__call__", interrupt_at_step_5)
    with pytest.raises(KeyboardInterrupt):
        Trainer(spec, run, registry=_registry(), stream=None).fit()
    monkeypatch.undo()
    Trainer(None, run, resume=True, registry=_registry(), stream=None).fit()
    got, want = (read_tensors(r / "model.safetensors")[0] for r in (run, reference))
    assert all(torch.equal(got[k], want[k]) for k in want)
