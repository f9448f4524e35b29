"""Data-parallel training on PyTorch's own engine: ``torchrun`` + ``DistributedDataParallel``.

Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) the process group is initialised
with NCCL when the run uses CUDA and gloo otherwise; each rank uses ``cuda:LOCAL_RANK``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist

__all__ = ["Distributed", "setup_distributed"]


@dataclass(frozen=True)
class Distributed:
    """This process's place in the run: rank, world size and device."""

    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        """Whether this process writes the run directory and logs (rank 0)."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        """Whether several processes train together."""
        return self.world > 1

    def all_sum(self, values: torch.Tensor) -> torch.Tensor:
        """The element-wise sum of ``values`` over ranks (``values`` itself when alone)."""
        if self.active:
            dist.all_reduce(values, op=dist.ReduceOp.SUM)
        return values

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank."""
        if not self.active:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        """Wait for every rank."""
        if self.active:
            dist.barrier()


def _device(requested: str, local_rank: int) -> torch.device:
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(requested)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", local_rank)
    return device


def setup_distributed(requested_device: str) -> Distributed:
    """Join the ``torchrun`` process group if there is one, and pick this rank's device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = _device(requested_device, local_rank)
    if world <= 1:
        return Distributed(0, 1, device)
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend=backend)
    return Distributed(dist.get_rank(), dist.get_world_size(), device)
