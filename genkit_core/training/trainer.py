"""``Trainer``: the one training loop, for every model kind, device and process count.

Per epoch: one permutation (shared by all ranks), batches by index on the device, a step per
batch with no host synchronisation on CUDA, held-out evaluation, one metrics row, image grids,
and an atomic checkpoint. Checkpoints are also written every ``train.checkpoint_every`` steps,
and the run resumes from any of them exactly (same weights as an uninterrupted run on CPU).
Weights, checkpoints and pictures are fixed when they are asked for and written on a
background thread (:class:`~genkit_core.files.BackgroundWriter`), so the next epoch need not
wait for the disk.
"""

from __future__ import annotations

import math
import signal
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Literal, TextIO

import torch
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from ..build import build_model
from ..components import build_component
from ..data import (
    InMemoryBatches,
    as_float,
    binarize,
    chunk_rows,
    eval_batches,
    load_resolved_data,
    make_batches,
    shard_rows,
)
from ..devices import check_device
from ..errors import DataError, NonFiniteError, RunError, SpecError
from ..files import BackgroundWriter, read_tensors
from ..images import as_images, save_grid
from ..install import check_torch_pair
from ..interfaces import DataBundle, Logger, Split
from ..model import LatentVariableModel
from ..registry import Registry, get_registry
from ..run import (
    CHECKPOINT,
    RECONSTRUCTIONS,
    SAMPLES,
    check_free_space,
    default_run_dir,
    drop_metrics_after,
    load_run_spec,
    prepare_run_dir,
    remove_stale_temporaries,
    save_spec,
    save_weights,
)
from ..spec import ModelSpec, load_spec
from ..weights import load_weights, model_tensors
from .checkpoint import Position, load_checkpoint, save_checkpoint
from .distributed import AgreedFlag, Distributed, raised_on_every_rank, setup_distributed
from .optim import OptimizerGroups, parameter_groups
from .resume import check_resume, checkpoint_position
from .step import TrainStep
from .threads import count_flops, training_threads

__all__ = ["TrainResult", "Trainer", "TrainingInterrupted"]

_CUDA_CHECK_EVERY = 200
"""On CUDA, steps between checks for non-finite values (each check synchronises)."""


class TrainingInterrupted(RunError):  # noqa: N818 - Ctrl-C is no error
    """Ctrl-C (or SIGTERM) stopped training; a checkpoint was saved and ``--resume`` continues.

    ``exit_status`` is the shell's convention for the signal: 130 for SIGINT, 143 for SIGTERM.
    """

    def __init__(self, message: str, signum: int = signal.SIGINT):
        super().__init__(message)
        self.exit_status = 128 + int(signum)


@dataclass(frozen=True)
class TrainResult:
    """Where a finished run is, its last metrics row, its steps in all and those of this call
    (0 when a resumed run had nothing left to train), and warnings about the result (a
    collapsed posterior).
    """

    run_dir: Path
    metrics: dict[str, float]
    steps: int
    new_steps: int = 0
    warnings: tuple[str, ...] = ()


class Trainer:
    """Trains the model a spec describes into a run directory.

    Args:
        spec: the spec (or a file / mapping :func:`~genkit_core.spec.load_spec` reads). Ignored
            when resuming: the run's own ``spec.yaml`` is used, with ``overrides`` applied.
        run_dir: where to write (default ``runs/<spec name>``); the run to continue if ``resume``.
        resume: continue the run in ``run_dir`` from its checkpoint.
        overwrite: replace an existing run in ``run_dir``.
        overrides: ``dotted.key=value`` changes to the spec.
        stream: where progress and epoch lines go (None: nowhere; default: the current stderr).
    """

    def __init__(
        self,
        spec: ModelSpec | str | Path | dict[str, Any] | None,
        run_dir: str | Path | None = None,
        resume: bool = False,
        overwrite: bool = False,
        overrides: list[str] | tuple[str, ...] = (),
        registry: Registry | None = None,
        stream: TextIO | Literal["stderr"] | None = "stderr",
    ):
        self.registry = registry or get_registry()
        self._resumed_at: Position | None = None
        if resume:
            if run_dir is None:
                raise RunError("--resume needs the run directory to continue")
            saved = load_run_spec(run_dir, self.registry)
            self.spec = load_spec(saved, overrides, self.registry)
            self._resumed_at = checkpoint_position(Path(run_dir))
            check_resume(saved, self.spec, self._resumed_at, Path(run_dir))
        else:
            if spec is None:
                raise SpecError("no spec given")
            source = spec if not isinstance(spec, ModelSpec) else None
            self.spec = load_spec(spec, overrides, self.registry)
            if run_dir is None:
                run_dir = default_run_dir(source if isinstance(source, str | Path) else None)
        self.run_dir = Path(run_dir)
        # "stderr" is resolved now, not at import, so a replaced sys.stderr (pytest's capture,
        # a notebook) is the one written to.
        self.stream = sys.stderr if stream == "stderr" else stream
        self.resume, self.overwrite = resume, overwrite
        self._stop_requested = False
        self._stop_signal = signal.SIGINT

    # --- setup ---------------------------------------------------------------------------

    def fit(self) -> TrainResult:
        """Train to the end of ``train.epochs``; return the run directory and final metrics.

        Raises:
            DataError, SpecError, RunError: before the first step, for bad data or spec or an
                unusable run directory.
            InstallError: torchvision does not work with the installed torch.
            NonFiniteError: training went non-finite (``on_nonfinite: stop``); the last good
                checkpoint and weights are kept.
            TrainingInterrupted: Ctrl-C; a checkpoint was saved.
        """
        done = self._resumed_at
        if done is not None and done.epoch >= self.spec.train.epochs and done.batch == 0:
            return TrainResult(self.run_dir, {}, done.step)  # nothing to train: touch nothing
        check_torch_pair()  # torchvision draws the first images, after a whole epoch
        self.dist = setup_distributed(check_device(self.spec.train.device, "train.device"))
        threads = torch.get_num_threads()  # train.threads holds for this call only
        try:
            return self._fit(self.dist)
        finally:
            torch.set_num_threads(threads)
            self.dist.close()

    def _fit(self, dist: Distributed) -> TrainResult:
        self.run_dir = dist.broadcast(self.run_dir)  # rank 0 names a default run directory
        torch.manual_seed(self.spec.train.seed)
        self.spec, data = load_resolved_data(self.spec, self.registry)  # recorded as used
        spec, train = self.spec, self.spec.train
        model = build_model(spec, data.info, self.registry, device=dist.device)
        assert model.spec is not None  # build_model gives the model its spec
        self.spec = spec = model.spec  # what its components settled on (an estimator, say)
        _check_support(model, data)
        model_bytes = sum(p.numel() * p.element_size() for p in model.parameters())

        def prepare() -> None:
            if not self.resume:
                prepare_run_dir(self.run_dir, self.overwrite, model_bytes)
            else:
                remove_stale_temporaries(self.run_dir)
                check_free_space(self.run_dir, model_bytes)

        dist.on_main(prepare)
        self.model, self.data = model, data
        self._setup_training(model, data, dist)
        self.step_flops = self._step_flops()
        self.threads = training_threads(train.threads, dist.device, self.step_flops)
        torch.set_num_threads(self.threads)
        if dist.active:
            self._say(
                f"data-parallel over {dist.world} processes ({dist.backend}): batch "
                f"{train.batch_size} each, global batch {train.batch_size * dist.world}"
            )
        self.loggers: list[Logger] = []
        with BackgroundWriter() as self._writer:
            position = self._start()  # a resumed run's spec.yaml changes only once it has loaded

            def start_writing() -> None:
                save_spec(self.run_dir, spec)
                self.loggers = [
                    build_component("logging", section, self.registry, run_dir=self.run_dir)
                    for section in spec.logging
                ]

            # rank 0 alone writes; an error it meets (a full disk, a logger's missing package)
            # stops every rank with one message instead of leaving the others to crash
            dist.on_main(start_writing)
            try:
                with _graceful_interrupt(self):
                    return self._loop(position)
            finally:
                for logger in self.loggers:
                    logger.close()

    def _setup_training(
        self, model: LatentVariableModel, data: DataBundle, dist: Distributed
    ) -> None:
        spec, train = self.spec, self.spec.train
        device = dist.device
        labelled = model.conditioner is not None
        common: dict[str, Any] = dict(
            placement=train.data_placement, num_workers=train.num_workers,
            world=dist.world, rank=dist.rank,
        )  # fmt: skip
        self.train_batches = make_batches(
            data.train,
            data.info,
            labelled,
            train.batch_size,
            device,
            drop_last=train.drop_last,
            **common,
        )
        self.test_batches = make_batches(
            data.test, data.info, labelled, train.eval_batch_size, device, **common
        )
        self._grey_train: Tensor | None = None
        if spec.data.binarize == "dynamic":
            if not isinstance(self.train_batches, InMemoryBatches):
                raise SpecError(
                    "dynamic binarisation needs the training data in memory; use static",
                    field="data.binarize",
                )
            self._grey_train = self.train_batches.x
        use_graph = (
            device.type == "cuda" and train.compile in ("auto", "cuda_graph")
            and not dist.active and train.on_nonfinite == "stop"
            and isinstance(self.train_batches, InMemoryBatches)
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
        self.optimizers = OptimizerGroups(
            train, groups, device, capturable=use_graph,
            objective=f"objective '{spec.objective.type}'",
        )  # fmt: skip
        module: torch.nn.Module = model
        if dist.active:
            module = DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None
            )
        self.step = TrainStep(
            module, model, self.optimizers, groups, device, train.clip_grad_norm,
            skip_nonfinite=train.on_nonfinite == "skip", sync_each_step=device.type != "cuda",
            distributed=dist,
        )  # fmt: skip
        self._stop_vote = AgreedFlag(dist)
        self._want_graph = use_graph
        self.generators = {
            "permutation": torch.Generator().manual_seed(train.seed),
            "noise": torch.Generator(device).manual_seed(train.seed + 1),
        }

    def _step_flops(self) -> float | None:
        """Floating-point operations of one training step: a forward pass over the first test
        batch, scaled to ``train.batch_size`` rows and tripled for the backward pass.

        Rank 0 counts them and tells the others, so that every rank decides alike, and a rank
        whose share of the test batches is empty (one batch, two ranks) needs none.
        """
        if self.spec.train.threads != "auto" or self.dist.device.type != "cpu":
            return None  # not needed: skip the forward pass
        flops = self._count_step_flops() if self.dist.is_main else None
        return self.dist.broadcast(flops)

    @torch.no_grad()
    def _count_step_flops(self) -> float | None:
        model = self.model
        x, y = next(iter(self.test_batches.in_order()))
        rows = min(len(x), self.spec.train.batch_size)
        x, y = x[:rows], None if y is None else y[:rows]
        noise = torch.zeros(len(x), *model.noise_shape)
        model.eval()
        try:
            flops = count_flops(lambda: model(as_float(x), y, noise))
        finally:
            model.train()
        return None if flops is None else 3 * flops * self.spec.train.batch_size / len(x)

    # --- the loop ------------------------------------------------------------------------

    def _loop(self, position: Position) -> TrainResult:
        train, dist = self.spec.train, self.dist
        first_step = position.step
        metrics: dict[str, float] = {}
        steps = self.train_batches.steps
        global_batch = train.batch_size * dist.world
        epoch_start_state = self.generators["permutation"].get_state()
        for epoch in range(position.epoch, train.epochs):
            if epoch > position.epoch or position.batch == 0:
                epoch_start_state = self.generators["permutation"].get_state()
            else:  # resuming mid-epoch: regenerate this epoch's permutation
                epoch_start_state = self._resumed_permutation_state
                self.generators["permutation"].set_state(epoch_start_state)
            order = torch.randperm(len(self.data.train), generator=self.generators["permutation"])
            if self._grey_train is not None:
                self._rebinarize(epoch)
            first = position.batch if epoch == position.epoch else 0
            started = time.perf_counter()
            bar = tqdm(
                total=steps, initial=first, desc=f"epoch {epoch + 1}/{train.epochs}", leave=False,
                disable=not (train.progress and dist.is_main and _is_terminal(self.stream)),
                file=self.stream,
                dynamic_ncols=True,
            )  # fmt: skip
            step_count = position.step
            for i, (x, y) in enumerate(self.train_batches.epoch(order, first), start=first):
                if train.schedule.type != "constant":
                    self.optimizers.scale_lr(train.schedule.factor(epoch + i / steps, train.epochs))
                rows = min(global_batch, len(self.data.train) - i * global_batch)
                lo, hi = shard_rows(rows, dist.world, dist.rank)  # this rank's rows of the batch
                noise = torch.randn(
                    rows, *self.model.noise_shape, generator=self.generators["noise"],
                    device=dist.device,
                )[lo:hi]  # fmt: skip
                if self._want_graph:
                    self._want_graph = False
                    self.step.capture(x, y, noise)
                self.step(x, y, noise, weight=dist.world * (hi - lo) / rows)
                step_count += 1
                bar.update()
                if dist.device.type != "cuda" or step_count % _CUDA_CHECK_EVERY == 0:
                    self._check_finite(epoch)
                if step_count % max(1, steps // 20) == 0:
                    bar.set_postfix_str(self._running_loss(), refresh=False)
                done = Position(epoch, i + 1, step_count, self.step.skipped, global_batch)
                if train.checkpoint_every and step_count % train.checkpoint_every == 0:
                    self._checkpoint(done, epoch_start_state)
                if self._stop_vote.poll(self._stop_requested):  # all ranks stop at one step
                    bar.close()
                    self._checkpoint(done, epoch_start_state)
                    self._save_weights(done)
                    self._writer.wait()  # "checkpoint saved" must be true when it is said
                    raise raised_on_every_rank(
                        TrainingInterrupted(
                            f"interrupted at step {step_count} (epoch {epoch + 1}); checkpoint "
                            f"saved. Continue with: genkit train --resume {self.run_dir}",
                            self._stop_signal,
                        )
                    )
            bar.close()
            self._check_finite(epoch)
            position = Position(epoch + 1, 0, step_count, self.step.skipped, global_batch)
            metrics = self._end_epoch(epoch, position, time.perf_counter() - started)
            self._checkpoint(position, self.generators["permutation"].get_state())
        self._stop_vote.settle()
        return TrainResult(
            self.run_dir, metrics, position.step, position.step - first_step, self._warnings()
        )

    def _start(self) -> Position:
        """Load the checkpoint when resuming; otherwise save the untrained state as step 0."""
        extra = {"data": asdict(self.data.info)}
        self._checkpoint_meta = extra
        if not self.resume:
            self._checkpoint(Position(), self.generators["permutation"].get_state())
            return Position()
        path = self.run_dir / CHECKPOINT
        perm = torch.Generator()
        generators = {**self.generators, "permutation_epoch_start": perm}
        optimizers = self.optimizers.optimizers
        position = load_checkpoint(path, self.model, optimizers, generators, self.step.sums)
        self._check_global_batch(position)
        if self.dist.is_main:
            drop_metrics_after(self.run_dir, position.epoch)
        else:  # the checkpoint holds every rank's sums; rank 0 carries them
            self.step.sums.zero_()
        self._resumed_permutation_state = perm.get_state()
        self.step.step_t.fill_(position.step)
        self.step.skipped = position.skipped
        self._say(f"resuming {self.run_dir} at epoch {position.epoch + 1}, step {position.step}")
        return position

    def _check_global_batch(self, position: Position) -> None:
        """A mid-epoch position counts batches of its own size; refuse to read it in another."""
        old, b, world = position.global_batch, self.spec.train.batch_size, self.dist.world
        if position.batch == 0 or old in (0, b * world):
            return
        fix = (
            f"--set train.batch_size={old // world}"
            if old % world == 0
            else f"a number of processes that divides {old}"
        )
        raise raised_on_every_rank(
            RunError(
                f"{self.run_dir}: checkpointed mid-epoch with a global batch of {old}, but this "
                f"run's is {b * world} (train.batch_size {b} x {world} processes); resume with "
                f"the same global batch: {fix}"
            )
        )

    def _checkpoint(self, position: Position, epoch_start_state: torch.Tensor) -> None:
        self._check_finite(position.epoch)
        sums = self.dist.all_sum(self.step.sums.clone())  # the partial epoch of every rank

        def save() -> None:
            perm = torch.Generator()
            perm.set_state(epoch_start_state)
            generators = {**self.generators, "permutation_epoch_start": perm}
            with self._writer.deferring():  # raises an earlier write's failure
                save_checkpoint(
                    self.run_dir / CHECKPOINT, self.model, self.optimizers.optimizers,
                    generators, position, sums, self._checkpoint_meta,
                )  # fmt: skip

        self.dist.on_main(save)  # every rank waits for it, and stops if it fails

    def _save_weights(self, position: Position) -> None:
        if self.dist.is_main:
            with self._writer.deferring():
                save_weights(
                    self.run_dir, self.model, {"step": position.step, "epoch": position.epoch}
                )

    # --- per epoch -----------------------------------------------------------------------

    def _end_epoch(self, epoch: int, position: Position, seconds: float) -> dict[str, float]:
        spec, dist = self.spec, self.dist
        sums = dist.all_sum(self.step.sums.clone())
        self.step.sums.zero_()
        n = int(sums[0])  # 0 when every step was skipped: the mean of nothing is nan, not 0
        names = self.step.names
        row: dict[str, float] = {
            "epoch": epoch + 1,
            "step": position.step,
            "seconds": round(seconds, 4),
        }
        row["lr"] = spec.train.lr * spec.train.schedule.factor(epoch + 1, spec.train.epochs)
        row.update(
            {
                f"train_{k}": float(v) / n if n else math.nan
                for k, v in zip(names, sums[1:].tolist(), strict=True)
            }
        )
        if spec.train.on_nonfinite == "skip":
            row["skipped_steps"] = self.step.skipped
        last = epoch + 1 == spec.train.epochs
        if last:
            self._fit_prior()
        if (epoch + 1) % spec.train.eval_every == 0 or last:
            row.update({f"test_{k}": v for k, v in self._evaluate(position.step).items()})
        dist.on_main(lambda: self._write_epoch(row, position, seconds))
        return row

    def _write_epoch(self, row: dict[str, float], position: Position, seconds: float) -> None:
        """Rank 0's part of an epoch's end: log the row, draw the images, save the weights."""
        for logger in self.loggers:
            logger.log(row, position.step)
        with self._writer.deferring():  # drawn now, encoded and written in the background
            self._save_images()
        self._save_weights(position)
        epochs, epoch = self.spec.train.epochs, int(row["epoch"])
        skipped = math.isnan(row["train_loss"])  # skipping keeps non-finite steps out of it
        test = f"  test {row['test_loss']:.3f}" if "test_loss" in row else ""
        trained = (
            "train nan (every step was skipped: non-finite)"
            if skipped
            else f"train {row['train_loss']:.3f}"
        )
        if epoch % max(1, epochs // 10) == 0 or epoch in (1, epochs) or skipped:
            self._say(f"epoch {epoch}/{epochs}  {trained}{test}  ({seconds:.1f} s)")

    @torch.no_grad()
    def _evaluate(self, step: int) -> dict[str, float]:
        """Held-out loss and terms, averaged over the test set and the ranks.

        Each rank evaluates its share of the test batches; the noise of batch j comes from a
        generator seeded by (seed, j), so the result does not depend on the number of ranks.
        """
        model, device, train, dist = self.model, self.dist.device, self.spec.train, self.dist
        step_t = torch.tensor(step, device=device)
        sums = torch.zeros(1 + len(self.step.names), dtype=torch.float64, device=device)
        model.eval()
        shard = eval_batches(len(self.data.test), train.eval_batch_size, dist.world, dist.rank)
        for j, (x, y) in zip(shard, self.test_batches.in_order(), strict=True):
            seeded = torch.Generator(device).manual_seed(((train.seed + 2) * 1_000_003 + j) % 2**63)
            noise = torch.randn(x.shape[0], *model.noise_shape, generator=seeded, device=device)
            out = model(as_float(x), y, noise, step_t)
            values = [out.losses[g] * x.shape[0] for g in self.step.groups]
            values += [out.terms[t].sum() for t in self.step.terms]
            sums += torch.stack([torch.tensor(float(x.shape[0]), device=device), *values]).double()
        model.train()
        totals = self.dist.all_sum(sums).tolist()
        return {k: v / totals[0] for k, v in zip(self.step.names, totals[1:], strict=True)}

    @torch.no_grad()
    def _save_images(self) -> None:
        """``samples.png`` (one row per class for a cvae) and ``reconstructions.png``."""
        model, spec, info = self.model, self.spec, self.data.info
        model.eval()
        with torch.random.fork_rng(
            devices=[self.dist.device] if self.dist.device.type == "cuda" else []
        ):
            torch.manual_seed(spec.train.seed)
            x, y = next(iter(self.test_batches.in_order()))
            x, y = as_float(x[:32]), None if y is None else y[:32]
            pairs = torch.stack([x, model.reconstruct(x, y)], dim=1).flatten(0, 1)
            images = as_images(pairs, info.shape)
            if images is not None:
                save_grid(self.run_dir / RECONSTRUCTIONS, images, nrow=16)
            if model.can_sample:
                n, labels, nrow = spec.train.samples, None, 8
                if model.conditioner is not None and info.num_classes is not None:
                    labels = torch.arange(
                        info.num_classes, device=self.dist.device
                    ).repeat_interleave(nrow)
                    n = len(labels)
                elif model.conditioner is not None:
                    labels = y[:1].expand(n, -1) if y is not None else None
                images = as_images(model.sample(n, labels), info.shape)
                if images is not None:
                    save_grid(self.run_dir / SAMPLES, images, nrow=nrow)
        model.train()

    def _warnings(self) -> tuple[str, ...]:
        """Warnings about the trained model: a posterior that collapsed (no active unit)."""
        if not self.model.is_variational or not self.dist.is_main:
            return ()
        from ..evaluation import ACTIVE_UNIT_THRESHOLD, active_units  # it imports this package

        self.model.eval()
        with torch.no_grad():
            active, _ = active_units(self.model, self.test_batches.in_order())
        self.model.train()
        if active:
            return ()
        epochs = self.spec.train.epochs
        warning = (
            f"no latent unit is active after {epochs} epoch{'s' * (epochs != 1)} (the variance of "
            f"every posterior mean over the test examples is below {ACTIVE_UNIT_THRESHOLD}): the "
            "decoder ignores z. Either the posterior collapsed onto the prior (try "
            "divergence.anneal, divergence.free_bits, a smaller divergence.beta or a weaker "
            "decoder) or the run is too short to have used z yet"
        )
        self._say(f"genkit: warning: {warning}")
        return (warning,)

    def _rebinarize(self, epoch: int) -> None:
        """Dynamic binarisation: a fresh Bernoulli draw of the training set, seeded by the epoch."""
        # _setup_training keeps the grey images only of a training split held in memory
        assert self._grey_train is not None and isinstance(self.train_batches, InMemoryBatches)
        seed = (self.spec.train.seed * 1_000_003 + epoch) % (2**63)
        generator = torch.Generator(self._grey_train.device).manual_seed(seed)
        self.train_batches.x = binarize(self._grey_train, generator)

    @torch.no_grad()
    def _fit_prior(self) -> None:
        """Fit a prior that is fitted after training to the codes of the whole training split
        (with dynamic binarisation, of the last epoch's draw: the data the model was trained on).
        """
        prior, model = self.model.prior, self.model
        if prior is None or not prior.fitted_after_training:
            return
        split = self.data.train
        if self._grey_train is not None:
            assert isinstance(self.train_batches, InMemoryBatches)  # as _rebinarize says
            split = Split(self.train_batches.x, split.y)
        batches = make_batches(
            split, self.data.info, model.conditioner is not None,
            self.spec.train.eval_batch_size, self.dist.device, placement="auto", num_workers=0,
        )  # fmt: skip
        model.eval()
        codes = torch.cat([model.encode(as_float(x), y) for x, y in batches.in_order()])
        model.train()
        prior.fit(codes)

    # --- safety --------------------------------------------------------------------------

    def _check_finite(self, epoch: int) -> None:
        problem, where = self.step.nonfinite(), ""
        if self.dist.active:  # every rank must stop together, or the others would hang
            flag = torch.tensor([float(problem is not None)], device=self.dist.device)
            if float(self.dist.all_sum(flag)) > 0:
                # the lowest rank that found one, preferring a term: DDP's all-reduce spreads a
                # non-finite gradient to every rank, but the term shows where it began
                in_a_term = problem is not None and set(problem.names) - {"loss", "gradient"}
                rank, found = self.dist.first(problem if in_a_term else None)
                rank, problem = (rank, found) if found else self.dist.first(problem)
                where = f" on rank {rank}"
        if problem is None:
            return
        kept = ""
        self._writer.wait()  # the last good checkpoint may still be on its way to the disk
        if self.dist.is_main and (self.run_dir / CHECKPOINT).is_file():
            tensors, meta = read_tensors(self.run_dir / CHECKPOINT)
            load_weights(self.model, model_tensors(tensors), self.run_dir / CHECKPOINT)
            self._save_weights(Position(**meta["position"]))
            kept = (
                f" The last good checkpoint (step {meta['position']['step']}) is kept in "
                f"{self.run_dir}; genkit eval uses it."
            )
        raise raised_on_every_rank(
            NonFiniteError(
                f"training stopped: {problem.describe()}{where} (epoch {epoch + 1}).{kept} "
                "Lower train.lr, set train.clip_grad_norm, or set train.on_nonfinite: skip"
            )
        )

    def _running_loss(self) -> str:
        if self.dist.device.type == "cuda":
            return ""  # reading it would synchronise; the epoch line reports it
        n, loss = float(self.step.sums[0]), float(self.step.sums[1])
        return f"loss {loss / n:.3f}" if n else ""

    def _say(self, line: str) -> None:
        if self.stream is not None and self.dist.is_main:
            tqdm.write(line, file=self.stream)


def _check_support(model: LatentVariableModel, data: DataBundle) -> None:
    """Refuse data outside the likelihood's support before the first step."""
    for name, split in (("train", data.train), ("test", data.test)):
        if not isinstance(split.x, torch.Tensor):
            continue
        rows = chunk_rows(split.x)
        for start in range(0, len(split.x), rows):
            problem = model.likelihood.support_error(as_float(split.x[start : start + rows]))
            if problem:
                assert model.spec is not None  # build_model gives the model its spec
                raise DataError(f"data '{model.spec.data.type}', {name} split: {problem}")


def _is_terminal(stream: TextIO | None) -> bool:
    return stream is not None and hasattr(stream, "isatty") and stream.isatty()


class _graceful_interrupt:  # noqa: N801 - used as a context manager
    """The first Ctrl-C (or SIGTERM, which clusters send before killing a job) asks the trainer
    to checkpoint and stop after the current step; a second one stops at once.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, trainer: Trainer):
        self.trainer = trainer
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> None:
        try:
            for signum in self.SIGNALS:
                self.previous[signum] = signal.signal(signum, self._handle)
        except ValueError:  # not the main thread: leave signals alone
            pass

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.trainer._stop_requested:  # a second signal stops at once
            raise KeyboardInterrupt
        self.trainer._stop_requested = True
        self.trainer._stop_signal = signal.Signals(signum)

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self.previous.items():
            signal.signal(signum, previous)
