"""Data-parallel training on PyTorch's own engine: ``torchrun`` + ``DistributedDataParallel``.

Under ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) every process joins one process
group, NCCL when the run uses CUDA and gloo on the CPU, and trains on ``cuda:LOCAL_RANK`` (or
the CPU). Every rank holds the same model and optimiser and DDP averages the gradients, so W
ranks with ``train.batch_size`` b take the steps of one process with the global batch
G = b W. Besides the gradients, the ranks agree on the run directory (rank 0's), errors found
by rank 0 alone, metric sums, non-finite values and Ctrl-C, so that no rank ever waits for a
collective the others will not join. Host-side flags go through a separate gloo group, so
agreeing on them never waits for the GPU.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
import torch.distributed as dist

from ..errors import GenkitError, RunError, SpecError

__all__ = [
    "AgreedFlag",
    "Distributed",
    "is_raised_on_every_rank",
    "leave_process_group",
    "raised_on_every_rank",
    "setup_distributed",
]

E = TypeVar("E", bound=BaseException)
T = TypeVar("T")

_EVERY_RANK = "raised_on_every_rank"


def raised_on_every_rank(exc: E) -> E:
    """Mark an error that every rank raises together, after joining the group.

    Rank 0 alone reports it, while the others wait for it (see :func:`leave_process_group`).
    """
    setattr(exc, _EVERY_RANK, True)
    return exc


def is_raised_on_every_rank(exc: BaseException) -> bool:
    """Whether :func:`raised_on_every_rank` marked ``exc``."""
    return bool(getattr(exc, _EVERY_RANK, False))


@dataclass(frozen=True)
class Distributed:
    """This process's place in the run: rank, world size, device, and the collectives it uses.

    Alone (``world`` 1) every collective returns its input unchanged.
    """

    rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    backend: str = ""
    host_group: Any = field(default=None, repr=False)

    @property
    def is_main(self) -> bool:
        """Whether this process writes the run directory and logs (rank 0)."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        """Whether several processes train together."""
        return self.world > 1

    def all_sum(self, values: torch.Tensor) -> torch.Tensor:
        """The element-wise sum of ``values`` (on this rank's device) over ranks, in place."""
        if self.active:
            dist.all_reduce(values, op=dist.ReduceOp.SUM)
        return values

    def broadcast(self, value: T) -> T:
        """Rank 0's ``value`` (any picklable object) on every rank."""
        if not self.active:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def first(self, value: T | None) -> tuple[int, T | None]:
        """The lowest rank whose ``value`` is not None and its value (``(rank, None)`` if none)."""
        if not self.active:
            return self.rank, value
        values: list[T | None] = [None] * self.world
        dist.all_gather_object(values, value)
        return next(((r, v) for r, v in enumerate(values) if v is not None), (self.rank, None))

    def on_main(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on rank 0; a :class:`GenkitError` it raises is raised on every rank."""
        problem: GenkitError | None = None
        if self.is_main:
            try:
                fn()
            except GenkitError as exc:
                if not self.active:
                    raise
                problem = exc
        problem = self.broadcast(problem)
        if problem is not None:
            raise raised_on_every_rank(problem)

    def barrier(self) -> None:
        """Wait for every rank."""
        if self.active:
            dist.barrier()

    def describe(self, batch_size: int) -> str | None:
        """The line that says a run is data-parallel (None in one process)."""
        if not self.active:
            return None
        return (
            f"data-parallel over {self.world} processes ({self.backend}): batch {batch_size} "
            f"each, global batch {batch_size * self.world}"
        )

    def close(self) -> None:
        """Release this run's host group; the process group stays for another run."""
        if self.active and dist.is_initialized() and self.host_group is not None:
            dist.destroy_process_group(self.host_group)


class AgreedFlag:
    """A host-side flag (Ctrl-C) that every rank acts on at the same step, without a stall.

    Each :meth:`poll` waits for the all-reduce the previous poll started, starts one of this
    rank's flag, and returns the previous result. The ranks poll at the same steps, so they
    agree one step after any of them raised the flag; the reduce, on the gloo host group, had
    a whole step to finish, so waiting for it costs nothing. Alone, the flag itself is returned.
    """

    def __init__(self, distributed: Distributed):
        self.distributed = distributed
        self._pending: tuple[dist.Work, torch.Tensor] | None = None

    def poll(self, raised: bool) -> bool:
        """Whether some rank had raised the flag by the previous poll (alone: ``raised``)."""
        if not self.distributed.active:
            return raised
        agreed = self.settle()
        if not agreed:
            flag = torch.tensor([float(raised)])
            work = dist.all_reduce(flag, group=self.distributed.host_group, async_op=True)
            self._pending = (work, flag)
        return agreed

    def settle(self) -> bool:
        """Finish the outstanding exchange; whether some rank had raised the flag."""
        if self._pending is None:
            return False
        work, flag = self._pending
        self._pending = None
        work.wait()
        return bool(flag.item() > 0)


def _device(requested: str, local_rank: int, world: int) -> torch.device:
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(requested)
    if world <= 1 or device.type == "cpu":
        return device
    if device.type != "cuda":
        raise SpecError(
            f"data-parallel training runs on CUDA (NCCL) or the CPU (gloo), not {requested}; "
            "use cuda, cpu or auto",
            field="train.device",
        )
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    chosen: int | None = device.index  # torch's stub says int; it is None for a bare "cuda"
    if chosen is not None and local_world > 1:
        raise SpecError(
            f"{requested} would put all {local_world} processes of this machine on one GPU; "
            "use cuda or auto (process LOCAL_RANK takes cuda:LOCAL_RANK) and choose the "
            "GPUs with CUDA_VISIBLE_DEVICES",
            field="train.device",
        )
    index, count = local_rank if chosen is None else chosen, torch.cuda.device_count()
    if index >= count:
        raise RunError(
            f"torchrun started {local_world} processes on this machine but it has {count} "
            f"visible GPU{'s' * (count != 1)}; pass --nproc_per_node={count} (or train.device: cpu)"
        )
    return torch.device("cuda", index)


def setup_distributed(requested_device: str) -> Distributed:
    """Join the ``torchrun`` process group if there is one, and pick this rank's device.

    The backend is NCCL for CUDA and gloo for the CPU. The group is joined once per process
    and kept for later runs in it (it cannot be joined again once left): a group the caller
    initialised is used as it is, and :func:`leave_process_group` ends it.

    Raises:
        SpecError: ``train.device`` cannot be shared by this machine's processes.
        RunError: more processes on this machine than GPUs.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = _device(requested_device, local_rank, world)
    if world <= 1:
        return Distributed(0, 1, device)
    if device.type == "cuda":
        torch.cuda.set_device(device)  # before NCCL starts, so it binds this GPU alone
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, device_id=device if device.type == "cuda" else None)
    backend = str(dist.get_backend())
    host_group = dist.new_group(backend="gloo") if backend != "gloo" else dist.new_group()
    return Distributed(dist.get_rank(), dist.get_world_size(), device, backend, host_group)


def leave_process_group(wait: bool = True) -> None:
    """Leave the process group at the end of a command (NCCL warns at exit otherwise).

    With ``wait``, for when every process ends here together (done, or an error all raised), it
    first waits for the others: a process that exits first has torchrun stop the rest, and rank
    0 may still be writing weights or printing the error. A process failing alone must not
    wait: the others will not come.
    """
    if dist.is_available() and dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()
