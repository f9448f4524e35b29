"""Training checkpoints: everything a run needs to continue exactly, in one safetensors file.

A checkpoint holds the model's weights, each optimiser group's state, the RNG states (torch's global
CPU and CUDA generators and the trainer's own permutation and noise generators), the position
(epoch, step within it, global step) and the partial epoch's metric sums. The learning-rate
schedule is a function of the position, so it needs no state of its own. The file is written
atomically (see :mod:`genkit_core.files`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import RunError
from ..files import read_tensors, write_tensors
from ..metadata import CheckpointMetadata, checked
from ..weights import load_weights, model_tensors
from .state import flatten, unflatten

__all__ = ["Position", "load_checkpoint", "save_checkpoint"]

FORMAT = 2
"""2: one optimiser state per group (``optimizers``); 1 (genkit 0.1): one ``optimizer``.
The formats read are :class:`~genkit_core.metadata.CheckpointMetadata`'s."""


@dataclass(frozen=True)
class Position:
    """Where training stands: ``epoch`` (0-based) and ``batch`` done within it; ``step`` overall.

    ``global_batch`` is the rows per step (``train.batch_size`` x processes) that ``batch``
    counts in (0: unknown).
    """

    epoch: int = 0
    batch: int = 0
    step: int = 0
    skipped: int = 0
    global_batch: int = 0
    stopped: bool = False
    """A callback ended training here before ``train.epochs``: a resumed run trains no more."""


def save_checkpoint(
    path: Path,
    model: torch.nn.Module,
    optimizers: dict[str, torch.optim.Optimizer],
    generators: dict[str, torch.Generator],
    position: Position,
    sums: torch.Tensor,
    extra: dict[str, Any] | None = None,
    callbacks: dict[str, Any] | None = None,
) -> None:
    """Write the full training state to ``path`` atomically (``extra``: more JSON metadata;
    ``callbacks``: each callback's state, by name).
    """
    state: dict[str, Any] = {
        "optimizers": {group: o.state_dict() for group, o in optimizers.items()},
        "rng": {
            "torch": torch.get_rng_state(),
            # torch leaves torch.cuda.is_initialized unannotated
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],  # type: ignore[no-untyped-call]
            **{name: g.get_state() for name, g in generators.items()},
        },
        "sums": sums.detach().clone(),
        "callbacks": callbacks or {},
    }
    tensors, skeleton = flatten(state, "state")
    tensors.update({f"model/{k}": v for k, v in model.state_dict().items()})
    meta = {**(extra or {}), "format": FORMAT, "position": asdict(position), "state": skeleton}
    write_tensors(path, tensors, meta)


def load_checkpoint(
    path: Path,
    model: torch.nn.Module,
    optimizers: dict[str, torch.optim.Optimizer],
    generators: dict[str, torch.Generator],
    sums: torch.Tensor,
    restore_callbacks: Callable[[dict[str, Any]], None] | None = None,
) -> Position:
    """Restore what :func:`save_checkpoint` wrote, in place; return the position.

    ``restore_callbacks`` receives the callbacks' states (empty for a checkpoint without any).

    Raises:
        RunError: the file is unreadable, of another format, or does not fit this model.
    """
    tensors, meta = read_tensors(path)
    position = Position(**checked(CheckpointMetadata, meta, path).position.model_dump())
    load_weights(model, model_tensors(tensors), path)
    try:
        state = unflatten(meta["state"], tensors)
        saved = state["optimizers"] if "optimizers" in state else {"model": state["optimizer"]}
        if set(saved) != set(optimizers):
            raise ValueError(
                f"it holds optimisers for {sorted(saved)}, this model trains {sorted(optimizers)}"
            )
        for group, optimizer in optimizers.items():
            optimizer.load_state_dict(saved[group])
        rng = state["rng"]
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        for name, generator in generators.items():
            generator.set_state(rng[name])
        sums.copy_(state["sums"])
        if restore_callbacks is not None:
            restore_callbacks(state.get("callbacks", {}))
    except (KeyError, ValueError, RuntimeError, TypeError, AttributeError) as exc:
        raise RunError(
            f"{path}: the optimiser, RNG or position state in it is damaged or does not fit "
            f"this spec ({type(exc).__name__}: {exc}); train again, or use its weights alone"
        ) from None
    return position
