"""``Trainer``: the one training loop, for every model kind, device and process count.

Per epoch: one permutation (shared by all ranks), batches by index on the device, a step per
batch with no host synchronisation on CUDA, then the epoch's end: the held-out loss, one row in
the run's record and its loggers, the callbacks' events (:mod:`genkit_core.interfaces.callback`),
the weights and an atomic checkpoint. Checkpoints are also written every
``train.checkpoint_every`` steps, and the run resumes from any of them exactly. Files are
written on a background thread (:class:`~genkit_core.files.BackgroundWriter`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal, TextIO

import torch
from tqdm import tqdm

from ..build import build_model
from ..components import build_component
from ..data import load_resolved_data, shard_rows
from ..devices import check_device
from ..errors import RunError, SpecError
from ..files import BackgroundWriter
from ..install import check_torch_pair
from ..interfaces import Callback, RunStatus
from ..registry import Registry, get_registry
from ..run import default_run_dir, load_run_spec, open_run_dir
from ..spec import ModelSpec, load_spec
from .checkpoint import Position
from .checkpointing import Checkpoints
from .distributed import AgreedFlag, Distributed, setup_distributed
from .evaluate import test_losses
from .events import Events
from .recording import Recorder, progress_bar, running_loss, train_row
from .results import TrainingInterrupted, TrainResult
from .resume import check_resume, checkpoint_position
from .setup import build_training, training_split_batches
from .signals import StopSignals
from .threads import step_flops, training_threads

__all__ = ["TrainResult", "Trainer", "TrainingInterrupted"]

_CUDA_CHECK_EVERY = 200
"""On CUDA, steps between checks for non-finite values (each check synchronises)."""


class Trainer:
    """Trains the model a spec describes into a run directory; the ``run`` callbacks see
    (:class:`~genkit_core.interfaces.TrainingRun`).

    Args:
        spec: the spec (or a file / mapping :func:`~genkit_core.spec.load_spec` reads). Ignored
            when resuming: the run's own ``spec.yaml`` is used, with ``overrides`` applied.
        run_dir: where to write (default ``runs/<spec name>``); the run to continue if ``resume``.
        resume: continue the run in ``run_dir`` from its checkpoint.
        overwrite: replace an existing run in ``run_dir``.
        overrides: ``dotted.key=value`` changes to the spec.
        stream: where progress and epoch lines go (None: nowhere; default: the current stderr).
        callbacks: callbacks a program adds after the spec's (a sweep's pruner, say).
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
        callbacks: Sequence[Callback] = (),
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
        # "stderr" resolved now, not at import: a replaced sys.stderr (pytest, a notebook) counts
        self.stream = sys.stderr if stream == "stderr" else stream
        self.resume, self.overwrite = resume, overwrite
        self._extra_callbacks = list(callbacks)
        self.signals = StopSignals()
        self.stop_reason: str | None = None
        self.warnings: list[str] = []
        self.position = Position()

    # --- what callbacks see ----------------------------------------------------------------

    @property
    def epoch(self) -> int:
        return self.position.epoch

    @property
    def step(self) -> int:
        return self.position.step

    @property
    def metric_names(self) -> tuple[str, ...]:
        return tuple(f"{s}_{name}" for s in ("train", "test") for name in self.parts.step.names)

    def request_stop(self, reason: str) -> None:
        self.stop_reason = self.stop_reason or reason

    def say(self, line: str) -> None:
        if self.stream is not None and self.dist.is_main:
            tqdm.write(line, file=self.stream)

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        self.say(f"genkit: warning: {message}")

    def write(self, write: Callable[[], None]) -> None:
        with self._writer.deferring():  # raises an earlier write's failure
            write()

    def test_batches(self) -> Iterator[Any]:
        return self.parts.test.in_order()

    def fit(self) -> TrainResult:
        """Train to the end of ``train.epochs`` (or a callback's stop); return the run
        directory and final metrics.

        Raises:
            DataError, SpecError, RunError: before the first step, for bad data or spec or an
                unusable run directory.
            InstallError: torchvision does not work with the installed torch.
            NonFiniteError: training went non-finite (``on_nonfinite: stop``); the last good
                checkpoint and weights are kept.
            TrainingInterrupted: Ctrl-C; a checkpoint was saved.
        """
        done = self._resumed_at
        finished = done is not None and done.epoch >= self.spec.train.epochs and done.batch == 0
        if done is not None and (finished or done.stopped):
            return TrainResult(self.run_dir, {}, done.step, stopped=done.stopped)  # touch nothing
        check_torch_pair()  # refuse a broken torch/torchvision pair before, not after, an epoch
        self.dist = setup_distributed(check_device(self.spec.train.device, "train.device"))
        self.device, self.is_main = self.dist.device, self.dist.is_main
        threads = torch.get_num_threads()  # train.threads holds for this call only
        try:
            return self._fit(self.dist)
        finally:
            torch.set_num_threads(threads)
            self.dist.close()

    def _fit(self, dist: Distributed) -> TrainResult:
        self.run_dir = dist.broadcast(self.run_dir)  # rank 0 names a default run directory
        torch.manual_seed(self.spec.train.seed)
        self.spec, self.data = load_resolved_data(self.spec, self.registry)  # recorded as used
        self.model = model = build_model(self.spec, self.data.info, self.registry, dist.device)
        assert model.spec is not None  # build_model gives the model its spec
        self.spec = spec = model.spec  # what its components settled on (an estimator, say)
        model.check_support(self.data)
        model_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
        dist.on_main(lambda: open_run_dir(self.run_dir, self.resume, self.overwrite, model_bytes))
        self.parts = build_training(spec, model, self.data, dist)
        self.step_flops = step_flops(model, self.parts.test, spec.train, dist)
        self.threads = training_threads(spec.train.threads, dist.device, self.step_flops)
        torch.set_num_threads(self.threads)
        if dist.active:
            self.say(str(dist.describe(spec.train.batch_size)))
        built = [build_component("callbacks", c, self.registry) for c in spec.callbacks]
        self.events = Events(built + self._extra_callbacks)
        self.recorder = Recorder(self.run_dir, spec, self.registry, self.say)
        status: RunStatus = "failed"
        with BackgroundWriter() as self._writer:
            self.checkpoints = Checkpoints(
                self.run_dir, model, self.parts, dist, self._writer, self.events, self.data.info
            )
            self._start()  # a resumed run's spec.yaml changes only once it has loaded
            # rank 0 alone writes; an error it meets (a full disk, a logger's missing package)
            # stops every rank with one message instead of leaving the others to crash
            dist.on_main(lambda: self.recorder.start(self.epoch if self.resume else None))
            try:
                with self.signals:
                    result = self._loop()
                self._writer.wait()  # the loggers' last look at the run sees its files
                status = "finished"
                return result
            except TrainingInterrupted:  # its checkpoint and weights are on disk already
                status = "interrupted"
                raise
            finally:
                if dist.is_main:
                    self.recorder.close(status)

    def _start(self) -> Position:
        """Load the checkpoint when resuming; otherwise save the untrained state as step 0."""
        if self.resume:
            self.position, self._resumed_permutation_state, fresh = self.checkpoints.load(
                self.spec.train.batch_size
            )
            self.say(f"resuming {self.run_dir} at epoch {self.epoch + 1}, step {self.step}")
            if fresh:
                self.say(f"callbacks without a saved state start afresh: {', '.join(fresh)}")
        else:
            self.checkpoints.save(Position(), self.parts.generators["permutation"].get_state())
        self.events.fit_start(self)
        return self.position

    def _loop(self) -> TrainResult:
        train, dist, parts, start = self.spec.train, self.dist, self.parts, self.position
        gens, step, batches = parts.generators, parts.step, parts.train
        metrics: dict[str, float] = {}
        global_batch, shape = train.batch_size * dist.world, self.model.noise_shape
        stop_vote = AgreedFlag(dist)
        for epoch in range(start.epoch, train.epochs):
            if epoch > start.epoch or start.batch == 0:
                epoch_start_state = gens["permutation"].get_state()
            else:  # resuming mid-epoch: regenerate this epoch's permutation
                epoch_start_state = self._resumed_permutation_state
                gens["permutation"].set_state(epoch_start_state)
            order = torch.randperm(len(self.data.train), generator=gens["permutation"])
            batches.set_epoch(epoch)
            self.events.epoch_start(self, epoch)
            first = start.batch if epoch == start.epoch else 0
            started, steps = time.perf_counter(), batches.steps
            show = train.progress and dist.is_main
            bar = progress_bar(self.stream, show, epoch, train.epochs, steps, first)
            count = self.position.step
            for i, (x, y) in enumerate(batches.epoch(order, first), start=first):
                parts.optimizers.follow_schedule(train, epoch + i / steps)
                rows = min(global_batch, len(self.data.train) - i * global_batch)
                lo, hi = shard_rows(rows, dist.world, dist.rank)  # this rank's rows of the batch
                noise = torch.randn(rows, *shape, generator=gens["noise"], device=dist.device)
                noise = noise[lo:hi]
                if parts.want_graph:
                    parts.want_graph = False
                    step.capture(x, y, noise)
                step(x, y, noise, weight=dist.world * (hi - lo) / rows)
                count += 1
                bar.update()
                if dist.device.type != "cuda" or count % _CUDA_CHECK_EVERY == 0:
                    self.checkpoints.check_finite(epoch)
                self.position = Position(epoch, i + 1, count, step.skipped, global_batch)
                self.events.step_end(self, count)
                if count % max(1, steps // 20) == 0:
                    bar.set_postfix_str(running_loss(step.sums, dist.device), refresh=False)
                if train.checkpoint_every and count % train.checkpoint_every == 0:
                    self.checkpoints.save(self.position, epoch_start_state)
                if stop_vote.poll(self.signals.requested):  # all ranks stop at one step
                    bar.close()
                    self.checkpoints.save_and_stop(self.position, epoch_start_state, self.signals)
            bar.close()
            self.checkpoints.check_finite(epoch)
            self.position = Position(epoch + 1, 0, count, step.skipped, global_batch)
            metrics = self._end_epoch(epoch, time.perf_counter() - started)
            self.checkpoints.save(self.position, gens["permutation"].get_state())
            if self.position.stopped:
                break
        stop_vote.settle()
        at = self.position
        return TrainResult(
            self.run_dir, metrics, at.step, at.step - start.step, (*self.warnings,), at.stopped
        )

    def _end_epoch(self, epoch: int, seconds: float) -> dict[str, float]:
        """Measure, record and log the epoch; its callbacks' events; save the weights."""
        spec, dist, step = self.spec, self.dist, self.parts.step
        sums = dist.all_sum(step.sums.clone())
        step.sums.zero_()
        skipped = step.skipped if spec.train.on_nonfinite == "skip" else None
        row = train_row(epoch, self.step, seconds, spec.train, step.names, sums, skipped)
        last = epoch + 1 == spec.train.epochs
        self.events.evaluate_start(self)
        if (epoch + 1) % spec.train.eval_every == 0 or last:
            losses = test_losses(
                self.model, self.parts.test, len(self.data.test), step, spec.train.seed,
                spec.train.eval_batch_size, dist, self.position.step,
            )  # fmt: skip
            row.update({f"test_{k}": v for k, v in losses.items()})
        dist.on_main(lambda: self.recorder.record(row, seconds))
        self.events.epoch_end(self, row)
        if self.stop_reason is not None and not last:
            self.position = replace(self.position, stopped=True)
            self.say(f"stopped after epoch {epoch + 1}: {self.stop_reason}")
        if last or self.position.stopped:
            self.events.fit_end(self, row)
            split = training_split_batches(spec, self.model, self.data, self.parts, dist.device)
            self.model.fit_prior(split.in_order())
        self.events.save(self)
        dist.on_main(lambda: self.checkpoints.save_weights(self.position))
        self.events.evaluate_end(self)
        return row
