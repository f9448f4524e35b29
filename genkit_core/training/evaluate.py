"""The held-out loss of each evaluated epoch: the objective and its terms on the test split."""

from __future__ import annotations

import torch

from ..data import Batches, as_float, eval_batches
from ..model import LatentVariableModel
from .distributed import Distributed
from .step import TrainStep

__all__ = ["test_losses"]


@torch.no_grad()
def test_losses(
    model: LatentVariableModel, batches: Batches, n: int, step: TrainStep, seed: int,
    batch_size: int, dist: Distributed, at_step: int,
) -> dict[str, float]:  # fmt: skip
    """The loss and terms of ``step.names``, averaged over the ``n`` test examples and the ranks.

    Each rank evaluates its share of the test batches; the noise of batch j comes from a
    generator seeded by (seed, j), so the result does not depend on the number of ranks.
    """
    device = dist.device
    step_t = torch.tensor(at_step, device=device)
    sums = torch.zeros(1 + len(step.names), dtype=torch.float64, device=device)
    model.eval()
    shard = eval_batches(n, batch_size, dist.world, dist.rank)
    for j, (x, y) in zip(shard, batches.in_order(), strict=True):
        seeded = torch.Generator(device).manual_seed(((seed + 2) * 1_000_003 + j) % 2**63)
        noise = torch.randn(x.shape[0], *model.noise_shape, generator=seeded, device=device)
        out = model(as_float(x), y, noise, step_t)
        values = [out.losses[g] * x.shape[0] for g in step.groups]
        values += [out.terms[t].sum() for t in step.terms]
        sums += torch.stack([torch.tensor(float(x.shape[0]), device=device), *values]).double()
    model.train()
    totals = dist.all_sum(sums).tolist()
    return {k: v / totals[0] for k, v in zip(step.names, totals[1:], strict=True)}
