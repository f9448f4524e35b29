"""How many intra-op CPU threads torch uses while training (``train.threads``).

torch parallelises each CPU operation over all physical cores by default, and every parallel
region ends at a barrier. When another process holds one of the cores, each operation waits for
the thread that is not running: on a shared 2-core machine the README's example took minutes
instead of seconds. A small model gains little from a second thread even on a quiet machine, so
``auto`` uses one thread unless a step holds enough arithmetic to pay for more
(docs/performance.md has the measurements :data:`AUTO_FLOPS_PER_THREAD` comes from).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import torch

if TYPE_CHECKING:
    from ..spec import TrainSpec
    from .distributed import Distributed

__all__ = ["AUTO_FLOPS_PER_THREAD", "count_flops", "step_flops", "training_threads"]

AUTO_FLOPS_PER_THREAD = 4e9
"""Floating-point operations of one training step (forward and backward) per thread that
``auto`` asks for: a step of fewer than 2x this runs on one thread. Every model measured, up to
a convolutional VAE of 3.9 GFLOP a step, trained fastest on one thread on a shared 2-core
machine (``benchmarks/threads.py``); twice that size is the first to get a second thread."""


def training_threads(
    setting: Literal["auto"] | int, device: torch.device, step_flops: float | None
) -> int:
    """The intra-op threads for training with ``train.threads: setting``.

    ``auto`` keeps torch's count where ``OMP_NUM_THREADS`` is set (torchrun sets it to 1 for
    each CPU process), off the CPU (the step runs on the accelerator) and where the step's
    operations could not be counted (``step_flops`` None). Otherwise it is one thread per
    :data:`AUTO_FLOPS_PER_THREAD` of the step, at least one and at most torch's default (the
    physical cores).
    """
    if setting != "auto":
        return int(setting)
    default = torch.get_num_threads()
    if os.environ.get("OMP_NUM_THREADS") or device.type != "cpu" or step_flops is None:
        return default
    return max(1, min(default, int(step_flops // AUTO_FLOPS_PER_THREAD)))


def count_flops(run: Callable[[], object]) -> float | None:
    """Floating-point operations of ``run()``, counted by torch's ``FlopCounterMode`` (matrix
    products and convolutions, which are what threads speed up); None where counting fails.
    """
    from torch.utils.flop_counter import FlopCounterMode

    try:
        with FlopCounterMode(display=False) as counter:
            run()
    except Exception:  # counting is advice: a component it cannot trace keeps the default
        return None
    return float(counter.get_total_flops())


def step_flops(
    model: torch.nn.Module, batches: Any, train: TrainSpec, dist: Distributed
) -> float | None:
    """Floating-point operations of one training step, for ``train.threads: auto``: a forward
    pass over the first test batch, scaled to ``train.batch_size`` rows and tripled for the
    backward pass (None where not needed: a fixed count, or off the CPU).

    Rank 0 counts them and tells the others, so that every rank decides alike, and a rank
    whose share of the test batches is empty (one batch, two ranks) needs none.
    """
    if train.threads != "auto" or dist.device.type != "cpu":
        return None
    flops = _count_step_flops(model, batches, train.batch_size) if dist.is_main else None
    return dist.broadcast(flops)


@torch.no_grad()
def _count_step_flops(model: Any, batches: Any, batch_size: int) -> float | None:
    from ..data import as_float

    x, y = next(iter(batches.in_order()))
    rows = min(len(x), batch_size)
    x, y = x[:rows], None if y is None else y[:rows]
    noise = torch.zeros(len(x), *model.noise_shape)
    model.eval()
    try:
        flops = count_flops(lambda: model(as_float(x), y, noise))
    finally:
        model.train()
    return None if flops is None else 3 * flops * batch_size / len(x)
