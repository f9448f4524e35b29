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


def test_the_gradient_check_is_non_finite_exactly_when_a_gradient_is(spec_dict):
    """On the CPU without clipping the step checks the sum of the gradients (cheaper than their
    norm): any nan or inf, of either sign, makes it non-finite; large finite gradients, whose
    squares overflow float32 (the norm called them non-finite), do not.
    """
    model, _, step = _step(spec_dict)
    params = list(model.parameters())
    for p in params:
        p.grad = torch.full_like(p, 1e30)
    assert torch.isfinite(step._gradient_check())
    for bad in (float("nan"), float("inf"), -float("inf")):
        params[-1].grad[0] = bad
        assert not torch.isfinite(step._gradient_check()), bad
    params[0].grad.view(-1)[0], params[-1].grad.view(-1)[0] = float("inf"), -float("inf")
    assert not torch.isfinite(step._gradient_check())


def test_a_non_finite_gradient_of_a_finite_loss_is_caught_before_the_update(spec_dict):
    model, _, step = _step(spec_dict)
    first = next(model.parameters())
    first.register_hook(lambda g: torch.where(g == g.flatten()[0], float("nan"), g))
    before = [p.detach().clone() for p in model.parameters()]
    step(torch.rand(4, 1, 8, 8), None, torch.zeros(4, 4))
    problem = step.nonfinite()
    assert problem is not None and problem.names == ("gradient",)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
