"""What a training run is built from: its batches, optimisers, step and random generators.

:func:`build_training` makes every choice the trainer's loop then follows: where the data lives
(on the device, streamed, or drawn afresh each epoch), whether the step is a CUDA graph, one
optimiser per parameter group, the DistributedDataParallel wrapper under torchrun.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch.nn.parallel import DistributedDataParallel

from ..data import Batches, BinarizedEachEpoch, InMemoryBatches, make_batches
from ..errors import SpecError
from ..interfaces import DataBundle, Split
from ..model import LatentVariableModel
from ..spec import ModelSpec
from .distributed import Distributed, raised_on_every_rank
from .optim import OptimizerGroups, parameter_groups
from .step import TrainStep

__all__ = ["Training", "build_training", "training_split_batches"]


@dataclass
class Training:
    """The parts of a run: ``train``/``test`` batches, the ``optimizers``, the ``step``, the
    ``generators`` (``permutation`` on the CPU, ``noise`` on the device) and whether the first
    step should be captured as a CUDA graph (``want_graph``).
    """

    train: Batches
    test: Batches
    optimizers: OptimizerGroups
    step: TrainStep
    generators: dict[str, torch.Generator]
    want_graph: bool


def build_training(
    spec: ModelSpec, model: LatentVariableModel, data: DataBundle, dist: Distributed
) -> Training:
    """Build a run's batches, optimisers and step for ``model`` on ``dist.device``.

    Raises:
        SpecError: a combination the loop cannot run (dynamic binarisation of streamed data,
            ``compile: cuda_graph`` where a graph cannot be captured, several optimiser groups
            under torchrun), on every rank alike.
    """
    train, device = spec.train, dist.device
    labelled = model.conditioner is not None
    common: dict[str, Any] = dict(
        placement=train.data_placement, num_workers=train.num_workers,
        world=dist.world, rank=dist.rank,
    )  # fmt: skip
    train_batches: Batches = make_batches(
        data.train, data.info, labelled, train.batch_size, device, drop_last=train.drop_last,
        **common,
    )  # fmt: skip
    test_batches = make_batches(
        data.test, data.info, labelled, train.eval_batch_size, device, **common
    )
    if spec.data.binarize == "dynamic":
        if not isinstance(train_batches, InMemoryBatches):
            raise SpecError(
                "dynamic binarisation needs the training data in memory; use static",
                field="data.binarize",
            )
        train_batches = BinarizedEachEpoch(train_batches, train.seed)
    use_graph = (
        device.type == "cuda" and train.compile in ("auto", "cuda_graph")
        and not dist.active and train.on_nonfinite == "stop"
        and isinstance(train_batches, InMemoryBatches)
    )  # fmt: skip
    if train.compile == "cuda_graph" and not use_graph:
        raise raised_on_every_rank(
            SpecError(
                "cuda_graph needs one CUDA device in one process (no torchrun data "
                "parallelism), data held on it and on_nonfinite: stop; use compile: auto to "
                "fall back by itself",
                field="train.compile",
            )
        )
    groups = parameter_groups(model)
    if dist.active and len(groups) > 1:
        raise raised_on_every_rank(
            SpecError(
                f"the objective '{spec.objective.type}' trains {len(groups)} optimiser "
                f"groups ({', '.join(groups)}), which torchrun data parallelism does not "
                "support yet; train it in one process",
                field="objective.type",
            )
        )
    optimizers = OptimizerGroups(
        train, groups, device, capturable=use_graph, objective=f"objective '{spec.objective.type}'"
    )
    module: torch.nn.Module = model
    if dist.active:
        module = DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    step = TrainStep(
        module, model, optimizers, groups, device, train.clip_grad_norm,
        skip_nonfinite=train.on_nonfinite == "skip", sync_each_step=device.type != "cuda",
        distributed=dist,
    )  # fmt: skip
    generators = {
        "permutation": torch.Generator().manual_seed(train.seed),
        "noise": torch.Generator(device).manual_seed(train.seed + 1),
    }
    return Training(train_batches, test_batches, optimizers, step, generators, use_graph)


def training_split_batches(
    spec: ModelSpec, model: LatentVariableModel, data: DataBundle, parts: Training,
    device: torch.device,
) -> Batches:  # fmt: skip
    """The whole training split in order, as trained on (the current epoch's draw, when
    binarised each epoch), for a prior fitted after training. Every rank sees all of it.
    """
    split = data.train
    if isinstance(parts.train, BinarizedEachEpoch):
        split = Split(parts.train.x, split.y)
    return make_batches(
        split, data.info, model.conditioner is not None, spec.train.eval_batch_size, device,
        placement="auto", num_workers=0,
    )  # fmt: skip
