"""fit_density: the one loop that fits a density to data (code_pixelcnn's prior, and others).

It finds the maximum-likelihood estimate (a Gaussian's sample mean and standard deviation), is
the same for the same seed, leaves the caller's random state and ``requires_grad`` alone, and
fits code_pixelcnn as the private loop it replaced did.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import Tensor, nn

from genkit_core.spec.train import OptimizerSpec
from genkit_core.training import TrainingInterrupted
from genkit_core.training.fit_density import fit_density, resumable


class _Gaussian(nn.Module):
    """A diagonal Gaussian with a learnable mean and log standard deviation."""

    def __init__(self, dim: int):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(dim))
        self.log_scale = nn.Parameter(torch.zeros(dim))

    def reset_parameters(self) -> None:
        nn.init.normal_(self.loc)
        nn.init.zeros_(self.log_scale)

    def nll(self, x: Tensor) -> Tensor:
        return -torch.distributions.Normal(self.loc, self.log_scale.exp()).log_prob(x).sum(-1)


def _data(n: int = 512) -> Tensor:
    g = torch.Generator().manual_seed(7)
    return torch.randn(n, 3, generator=g) * torch.tensor([0.5, 2.0, 1.0]) + torch.tensor([3, -1, 0])


def test_it_finds_the_maximum_likelihood_gaussian():
    """The MLE of a Gaussian is the sample mean and the (biased) sample standard deviation."""
    data, model = _data(), _Gaussian(3)
    losses = fit_density(model, data, model.nll, epochs=50, batch_size=128, lr=0.1, seed=0)
    assert len(losses) == 50 and losses[-1] < losses[0]
    assert torch.allclose(model.loc, data.mean(0), atol=0.05)
    assert torch.allclose(model.log_scale.exp(), data.std(0, correction=0), rtol=0.05)
    best = torch.distributions.Normal(data.mean(0), data.std(0, correction=0))
    assert losses[-1] == pytest.approx(-float(best.log_prob(data).sum(-1).mean()), rel=0.01)


def test_the_same_seed_gives_the_same_fit_and_another_seed_another():
    data = _data()
    fits = []
    for seed in (3, 3, 4):
        model = _Gaussian(3)
        torch.manual_seed(100 + len(fits))  # the caller's state does not enter the fit
        losses = fit_density(model, data, model.nll, epochs=2, batch_size=50, lr=0.01, seed=seed)
        fits.append((model.loc.detach().clone(), losses))
    assert torch.equal(fits[0][0], fits[1][0]) and fits[0][1] == fits[1][1]
    assert not torch.equal(fits[0][0], fits[2][0])


def test_draws_inside_the_loss_are_seeded_and_the_callers_state_is_kept():
    data, model = _data(64), _Gaussian(3)

    def noisy(x: Tensor) -> Tensor:
        return model.nll(x + 0.1 * torch.randn_like(x))

    torch.manual_seed(5)
    before = torch.get_rng_state()
    a = fit_density(model, data, noisy, epochs=2, batch_size=16, lr=0.01, seed=1)
    assert torch.equal(torch.get_rng_state(), before)
    b = fit_density(model, data, noisy, epochs=2, batch_size=16, lr=0.01, seed=1)
    assert a == b


def test_requires_grad_and_the_mode_are_restored_and_every_parameter_is_trained():
    data, model = _data(64), _Gaussian(3)
    model.requires_grad_(False).eval()
    start, modes = model.loc.detach().clone(), []

    def nll(x: Tensor) -> Tensor:
        modes.append(model.training)
        return model.nll(x)

    fit_density(model, data, nll, epochs=1, batch_size=64, lr=0.1, seed=0, fresh=False)
    assert modes == [True] and not model.training
    assert not model.loc.requires_grad and not model.log_scale.requires_grad
    assert not torch.equal(model.loc, start)


def test_the_optimiser_is_the_one_the_spec_names():
    """Plain SGD with one full batch per epoch: each step is loc -= lr * d(mean nll)/d loc."""
    data, model = _data(64), _Gaussian(3)
    fit_density(model, data, model.nll, epochs=1, batch_size=64, lr=0.1, seed=0,
                optimizer=OptimizerSpec(type="sgd"), fresh=False)  # fmt: skip
    # at loc 0, scale 1: d/d loc of the mean nll is -(mean of x)
    assert torch.allclose(model.loc, 0.1 * data.mean(0), atol=1e-6)


@pytest.mark.parametrize("bad", [{"epochs": 0}, {"batch_size": 0}])
def test_bad_sizes_are_refused(bad):
    model = _Gaussian(3)
    sizes = {"epochs": 1, "batch_size": 8, **bad}
    with pytest.raises(ValueError, match="at least 1"):
        fit_density(model, _data(8), model.nll, lr=0.1, seed=0, **sizes)


def test_no_data_is_refused():
    model = _Gaussian(3)
    with pytest.raises(ValueError, match="at least one example"):
        fit_density(model, _data(8)[:0], model.nll, epochs=1, batch_size=8, lr=0.1, seed=0)


def _private_loop(net: nn.Module, indices: Tensor, epochs: int, batch: int, lr: float) -> None:
    """code_pixelcnn's own loop before fit_density (commit e4c5701), as it was."""
    with torch.random.fork_rng(devices=[]), torch.enable_grad():
        torch.manual_seed(0)
        for module in net.modules():
            if module is not net and hasattr(module, "reset_parameters"):
                module.reset_parameters()
        net.requires_grad_(True)
        optimizer = torch.optim.Adam(net.parameters(), lr=lr)
        order = torch.Generator().manual_seed(0)
        for _ in range(epochs):
            for chosen in torch.randperm(len(indices), generator=order).split(batch):
                loss = -net.log_prob(indices[chosen]).mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
        net.requires_grad_(False)


def test_code_pixelcnn_fits_as_its_private_loop_did():
    """The same optimiser (Adam; fused here, which rounds alike within float error), order and
    initialisation: the same weights within float tolerance."""
    from genkit_core import build_model
    from genkit_core.testing import tiny_spec

    spec = tiny_spec(
        model="ae",
        encoder={"type": "conv", "channels": [8, 8], "hidden": None, "feature_map": True},
        posterior={"type": "vq", "codes": 4},
        decoder={"type": "conv", "channels": [8, 8], "hidden": None},
        prior={"type": "code_pixelcnn", "channels": 8, "layers": 2, "epochs": 3,
               "batch_size": 32, "lr": 3e-3},
    )  # fmt: skip
    model = build_model(spec)
    prior, posterior = model.prior, model.posterior
    torch.manual_seed(0)
    indices = torch.randint(0, 4, (100, *posterior.latent_shape[1:]))
    prior.fit(posterior.embed(indices).detach())
    ours = [p.detach().clone() for p in prior.net.parameters()]
    grid = indices.view(len(indices), *prior._grid)
    _private_loop(prior.net, grid, epochs=3, batch=32, lr=3e-3)
    for a, b in zip(ours, prior.net.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-5), float((a - b).abs().max())
    assert all(not p.requires_grad for p in prior.net.parameters())
    assert math.isfinite(float(prior.log_prob(posterior.embed(indices[:2])).sum()))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_no_step_waits_for_the_device():
    """torch's sync debug mode warns at each host synchronisation: only the final read of the
    losses may synchronise."""
    import warnings

    data, model = _data().cuda(), _Gaussian(3).cuda()
    fit_density(model, data, model.nll, epochs=1, batch_size=64, lr=0.01, seed=0)  # warm-up
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit_density(model, data, model.nll, epochs=4, batch_size=64, lr=0.01, seed=0)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in caught if "synchroniz" in str(w.message)]
    assert len(syncs) <= 1, [str(w.message) for w in syncs]


# --- resuming --------------------------------------------------------------------------------


class _Noisy(_Gaussian):
    """A loss that draws noise (as code_vae's and code_diffusion's do), so that a resumed fit
    matches only if the global random state is restored too."""

    def __init__(self, dim: int, interrupt: Callable[[int], None] | None = None):
        super().__init__(dim)
        self.calls, self.interrupt = 0, interrupt

    def noisy_nll(self, x: Tensor) -> Tensor:
        self.calls += 1
        if self.interrupt is not None:
            self.interrupt(self.calls)
        return self.nll(x + 0.1 * torch.randn_like(x))


def _fit(model: _Noisy, checkpoint: Path | None = None) -> list[float]:
    context = resumable(checkpoint) if checkpoint is not None else contextlib.nullcontext()
    with context:
        return fit_density(model, _data(200), model.noisy_nll, epochs=4, batch_size=64, lr=0.05,
                           seed=3)  # fmt: skip


def _ctrl_c_at(call: int) -> Callable[[int], None]:
    def interrupt(calls: int) -> None:
        if calls == call:
            os.kill(os.getpid(), signal.SIGINT)

    return interrupt


@pytest.mark.parametrize("call", [pytest.param(6, id="mid-epoch"), pytest.param(8, id="epoch-end")])
def test_a_fit_stopped_by_ctrl_c_resumes_to_the_same_parameters_bit_for_bit(tmp_path, call):
    """4 batches an epoch: Ctrl-C in the 6th step saves after it (epoch 2, batch 2), in the 8th
    after the epoch; the same call again ends where an uninterrupted fit ends, losses included."""
    whole = _Noisy(3)
    expected = _fit(whole)
    checkpoint = tmp_path / "fit.safetensors"
    stopped = _Noisy(3, _ctrl_c_at(call))
    with pytest.raises(TrainingInterrupted, match=r"the fit stopped .* the same command continues"):
        _fit(stopped, checkpoint)
    assert checkpoint.is_file() and stopped.calls == call
    resumed = _Noisy(3)
    assert _fit(resumed, checkpoint) == expected
    assert resumed.calls == 16 - call  # nothing done twice
    assert torch.equal(resumed.loc, whole.loc) and torch.equal(resumed.log_scale, whole.log_scale)


def test_a_fit_killed_mid_epoch_resumes_from_the_last_epoch_end(tmp_path):
    whole = _Noisy(3)
    _fit(whole)
    checkpoint = tmp_path / "fit.safetensors"

    def crash(calls: int) -> None:
        if calls == 11:
            raise MemoryError("killed")

    with pytest.raises(MemoryError):
        _fit(_Noisy(3, crash), checkpoint)
    resumed = _Noisy(3)
    _fit(resumed, checkpoint)
    assert resumed.calls == 8  # epochs 3 and 4 again
    assert torch.equal(resumed.loc, whole.loc) and torch.equal(resumed.log_scale, whole.log_scale)


def test_a_checkpoint_of_another_fit_is_ignored(tmp_path):
    checkpoint = tmp_path / "fit.safetensors"
    with resumable(checkpoint):
        other = _Noisy(3)
        fit_density(other, _data(100), other.noisy_nll, epochs=2, batch_size=64, lr=0.05, seed=3)
    fresh, whole = _Noisy(3), _Noisy(3)
    _fit(whole)
    _fit(fresh, checkpoint)
    assert fresh.calls == 16 and torch.equal(fresh.loc, whole.loc)


def test_a_torn_checkpoint_is_started_over(tmp_path):
    checkpoint = tmp_path / "fit.safetensors"
    checkpoint.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    fresh, whole = _Noisy(3), _Noisy(3)
    _fit(whole)
    _fit(fresh, checkpoint)
    assert fresh.calls == 16 and torch.equal(fresh.loc, whole.loc)
