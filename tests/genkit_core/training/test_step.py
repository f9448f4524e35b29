"""The training step: device-side bookkeeping, non-finite detection, and undoing warm-up steps."""

from __future__ import annotations

import torch

from genkit_core import build_model
from genkit_core.spec import TrainSpec
from genkit_core.training.optim import OptimizerGroups, parameter_groups
from genkit_core.training.step import TrainStep, _restore, _snapshot

CPU = torch.device("cpu")


def _step(spec_dict, **options):
    model = build_model(spec_dict())
    groups = parameter_groups(model)
    optimizers = OptimizerGroups(TrainSpec(lr=1e-2), groups, CPU, capturable=False)
    step = TrainStep(model, model, optimizers, groups, CPU, **options)
    return model, optimizers["model"], step


def test_sums_accumulate_examples_loss_and_terms(spec_dict):
    model, _, step = _step(spec_dict)
    x, eps = torch.rand(6, 1, 8, 8), torch.zeros(6, 4)
    with torch.no_grad():
        expected = model(x, noise=eps)
    step(x, None, eps)
    assert step.sums[0] == 6
    assert torch.allclose(step.sums[1].float(), expected.loss * 6, rtol=1e-5)
    assert torch.allclose(step.sums[2].float(), expected.terms["reconstruction"].sum(), rtol=1e-5)
    assert int(step.step_t) == 1 and step.nonfinite() is None


def test_a_non_finite_loss_is_caught_before_the_update(spec_dict):
    model, _, step = _step(spec_dict)
    before = [p.detach().clone() for p in model.parameters()]
    x = torch.rand(4, 1, 8, 8)
    x[0, 0, 0, 0] = float("nan")
    step(x, None, torch.zeros(4, 4))
    problem = step.nonfinite()
    assert problem is not None and problem.step == 0 and "reconstruction" in problem.names
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    # nan in x reaches the encoder too, so both terms are named
    assert problem.describe() == (
        "the reconstruction term and divergence term became non-finite (nan or inf) at step 0"
    )


def test_skip_mode_skips_and_counts(spec_dict):
    _, _, step = _step(spec_dict, skip_nonfinite=True)
    x = torch.full((4, 1, 8, 8), float("inf"))
    step(x, None, torch.zeros(4, 4))
    assert step.skipped == 1 and int(step.step_t) == 1 and step.nonfinite() is None
    assert step.sums[0] == 0


def test_restore_undoes_steps_in_place(spec_dict):
    """What capturing a CUDA graph relies on: warm-up steps are undone without new tensors,
    buffers (a codebook's moving averages, say) included.
    """
    model, optimizer, step = _step(spec_dict)
    model.register_buffer("moving_average", torch.zeros(3))
    x, eps = torch.rand(4, 1, 8, 8), torch.randn(4, 4)
    step(x, None, eps)
    saved = _snapshot(step)
    params = [p.detach().clone() for p in model.parameters()]
    state = {k: v.clone() for k, v in optimizer.state[next(model.parameters())].items()}
    addresses = [p.data_ptr() for p in model.parameters()]
    buffer = model.moving_average
    for _ in range(3):
        step(x, None, eps)
        model.moving_average.add_(1.0)
    _restore(step, saved)
    assert model.moving_average is buffer and torch.equal(buffer, torch.zeros(3))
    assert [p.data_ptr() for p in model.parameters()] == addresses
    assert all(torch.equal(a, b) for a, b in zip(params, model.parameters(), strict=True))
    for key, value in optimizer.state[next(model.parameters())].items():
        assert torch.equal(value, state[key])
    assert int(step.step_t) == 1 and step.sums[0] == 4
