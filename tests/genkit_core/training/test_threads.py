"""``train.threads``: the count auto picks, the operations it counts, and that fit restores it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genkit_core.testing import TINY_SPEC, tiny_spec
from genkit_core.training import Trainer
from genkit_core.training.threads import AUTO_FLOPS_PER_THREAD, count_flops, training_threads

CPU, CUDA = torch.device("cpu"), torch.device("cuda")
SPEC = tiny_spec(train={**TINY_SPEC["train"], "batch_size": 32})


@pytest.fixture
def four_cores(monkeypatch):
    """torch's default of 4 threads, and no OMP_NUM_THREADS from the environment."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(4)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(
    ("flops", "threads"),
    [
        pytest.param(1e6, 1, id="tiny"),
        pytest.param(1.9 * AUTO_FLOPS_PER_THREAD, 1, id="below-two"),
        pytest.param(2 * AUTO_FLOPS_PER_THREAD, 2, id="two"),
        pytest.param(3.5 * AUTO_FLOPS_PER_THREAD, 3, id="three"),
        pytest.param(100 * AUTO_FLOPS_PER_THREAD, 4, id="capped-at-the-cores"),
    ],
)
def test_auto_asks_one_thread_per_share_of_the_step(four_cores, flops, threads):
    assert training_threads("auto", CPU, flops) == threads


@pytest.mark.usefixtures("four_cores")
def test_auto_keeps_torchs_count_where_it_cannot_judge_or_is_told(monkeypatch):
    assert training_threads("auto", CUDA, 1e6) == 4  # the step runs on the accelerator
    assert training_threads("auto", CPU, None) == 4  # the step's operations are unknown
    monkeypatch.setenv("OMP_NUM_THREADS", "3")  # torchrun, or the user, chose
    assert training_threads("auto", CPU, 1e6) == 4


@pytest.mark.usefixtures("four_cores")
def test_a_count_is_used_as_given():
    assert training_threads(3, CPU, 1e6) == 3
    assert training_threads(8, CPU, None) == 8


def test_count_flops_counts_a_matrix_product_as_two_operations_per_multiply_add():
    layer, x = nn.Linear(30, 20), torch.randn(7, 30)
    assert count_flops(lambda: layer(x)) == 2 * 7 * 30 * 20


def test_count_flops_is_none_where_the_run_fails():
    def broken() -> None:
        raise RuntimeError("cannot trace this")

    assert count_flops(broken) is None


def test_a_steps_operations_are_three_forward_passes_of_a_batch(tmp_path, four_cores):
    """The MLP VAE's linear layers, 2 B sum(fan_in x fan_out), forward and twice backward."""
    trainer = Trainer(SPEC, tmp_path / "run", stream=None)
    trainer.fit()
    layers = 64 * 32 + 32 * (2 * 4) + 4 * 32 + 32 * 64  # encoder, posterior head, decoder
    assert trainer.step_flops == 3 * 2 * 32 * layers
    assert trainer.threads == 1


@pytest.mark.parametrize("threads", [1, 2])
def test_train_threads_holds_during_fit_and_is_restored_after(tmp_path, threads):
    before, seen = torch.get_num_threads(), []
    spec = {**SPEC, "train": {**SPEC["train"], "threads": threads}}
    trainer = Trainer(spec, tmp_path / "run", stream=None)
    end_epoch = Trainer._end_epoch

    def spy(self, *args):
        seen.append(torch.get_num_threads())
        return end_epoch(self, *args)

    with pytest.MonkeyPatch.context() as m:
        m.setattr(Trainer, "_end_epoch", spy)
        trainer.fit()
    assert seen == [threads] and trainer.threads == threads
    assert torch.get_num_threads() == before
