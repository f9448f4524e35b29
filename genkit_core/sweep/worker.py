"""A sweep worker: one process that claims trials and runs them until none is left.

``genkit sweep`` starts N of these (``python -c``, see ``runner.worker_command``), each with
its own ``CUDA_VISIBLE_DEVICES`` or CPU thread count. A trial is an ordinary run directory
``DIR/<trial name>``, trained (or resumed from its checkpoint), measured into its ``eval.json``,
and told to Optuna. A trial that raises a genkit error (a diverging learning rate, say) is told
as failed with that error; Ctrl-C or SIGTERM checkpoints the trial and leaves it to be resumed.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ..devices import resolve_device
from ..errors import DataError, GenkitError, NonFiniteError, RunError, SpecError
from ..memory import keep_freed_memory
from .loading import load_sweep
from .plan import Sweep
from .storage import open_storage, own_file_errors
from .study import PRUNED_AT, RETRIABLE, RETRY_OF, Claim, claim_next

if TYPE_CHECKING:
    from .pruning import TrialPruning

__all__ = ["LOGS", "STORAGE_ENV", "SWEEP_FILE", "main", "run_trial"]

SWEEP_FILE = "sweep.yaml"
"""The sweep as it runs, base inline, in DIR: what every worker reads."""

LOGS = "logs"
"""``DIR/logs/<trial>.log``: each trial's training lines and, if it failed, why."""

STORAGE_ENV = "GENKIT_SWEEP_STORAGE"
"""How a worker gets ``--storage``: the environment, not argv, where ``ps`` shows passwords."""


def run_trial(sweep: Sweep, claim: Claim, directory: Path, log: TextIO | None) -> None:
    """Train (or resume) the claimed trial, measure it and tell Optuna its metric.

    Raises:
        TrainingInterrupted: Ctrl-C or SIGTERM; the trial is checkpointed and left RUNNING.
    """
    from ..run_metrics import measure_run, read_cached
    from ..training import TrainingInterrupted
    from .pruning import read_pruned

    run_dir = directory / claim.name
    try:
        # a trial pruned before its worker died stays pruned: its checkpoint is marked stopped
        pruned = read_pruned(run_dir) if claim.resumed else None
        metrics = read_cached(run_dir, sweep.iw_samples) if claim.resumed else None
        if pruned is None and metrics is None:
            pruning = _pruning(sweep, claim)
            trainer = _trainer(sweep, claim, run_dir, log, pruning)
            trainer.fit()
            pruned = pruning.pruned if pruning is not None else None
            if pruned is None:
                device = resolve_device(trainer.spec.train.device, "train.device")
                metrics = measure_run(run_dir, sweep.iw_samples, device)
        if pruned is not None:
            _prune(claim, pruned, log)
            return
        assert metrics is not None  # measured when not pruned
        if sweep.metric not in metrics:  # a metric component's score: <metric>.<score>
            metrics = {**metrics, **_scores(run_dir, sweep.metric)}
        if metrics.get(sweep.metric) is None:
            raise RunError(f"{run_dir}: no {sweep.metric} was measured")
        if not math.isfinite(float(metrics[sweep.metric])):
            raise NonFiniteError(_diverged(run_dir, sweep.metric, float(metrics[sweep.metric])))
    except TrainingInterrupted:
        raise
    except GenkitError as exc:
        _fail(claim, str(exc), log, _may_pass(exc))
        return
    except Exception as exc:  # a bug in genkit or a plugin: keep the traceback in the log
        if log is not None:
            traceback.print_exc(file=log)
        message = f"{type(exc).__name__}: {exc} (a bug; the traceback is in its log)"
        _fail(claim, message, log, _may_pass(exc))
        return
    for key, value in metrics.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            claim.trial.set_user_attr(key, value)
    claim.study.tell(claim.trial, float(metrics[sweep.metric]))


def _scores(run_dir: Path, metric: str) -> dict[str, Any]:
    """The scores of the metric ``<metric>.<score>`` names, as columns (computed once, then
    read from the run's ``eval.json``), or nothing for a built-in measure.
    """
    from ..run import load_run_spec
    from ..run_metrics import evaluate_metrics, score_columns

    if "." not in metric:
        return {}
    device = resolve_device(load_run_spec(run_dir).train.device, "train.device")
    found = evaluate_metrics(run_dir, [metric.split(".")[0]], device)
    return score_columns({"weights": next(iter(found.values()))["weights"], "metrics": found})


def _trainer(
    sweep: Sweep, claim: Claim, run_dir: Path, log: TextIO | None, pruning: TrialPruning | None
) -> Any:
    """The trial's trainer: resuming its checkpoint, or from the start. A trial run again after
    a failure whose checkpoint cannot be read (what it may have failed of) starts over.
    """
    from ..run import CHECKPOINT
    from ..training import Trainer

    callbacks = [pruning] if pruning is not None else []
    if (run_dir / CHECKPOINT).is_file():
        try:
            return Trainer(None, run_dir, resume=True, stream=log, callbacks=callbacks)
        except RunError as exc:
            if RETRY_OF not in claim.trial.user_attrs:
                raise
            if log is not None:
                print(f"genkit: cannot resume ({exc}); training from the start", file=log)
    spec = sweep.spec(claim.params, claim.name)
    return Trainer(spec, run_dir, overwrite=True, stream=log, callbacks=callbacks)


def _pruning(sweep: Sweep, claim: Claim) -> TrialPruning | None:
    """The callback that reports the trial's test losses to its study's pruner (None when the
    search prunes nothing); a resumed trial's reported epochs are not reported again.
    """
    from .pruning import TrialPruning

    if sweep.pruner is None:
        return None
    reported: set[int] = set()
    if claim.resumed:
        mine = [t for t in claim.study.get_trials(deepcopy=False) if t.number == claim.trial.number]
        reported = {step for t in mine for step in t.intermediate_values}
    return TrialPruning(claim.trial, sweep.pruner["type"], reported)


def _prune(claim: Claim, pruned: dict[str, Any], log: TextIO | None) -> None:
    """Tell Optuna the trial is pruned (the dashboard shows it so), keeping where and why."""
    from optuna.trial import TrialState

    if log is not None:
        print(f"genkit: {pruned['reason']}", file=log, flush=True)
    claim.trial.set_user_attr(PRUNED_AT, pruned["epoch"])
    claim.study.tell(claim.trial, state=TrialState.PRUNED)


def _may_pass(exc: BaseException) -> bool:
    """Whether a trial's failure may pass, so that the next ``genkit sweep`` runs it again: a
    full disk, an unreadable or damaged file, memory. A mistake in the spec or the data, or a
    run that diverged, fails the same way every time (see ``docs/sweeps.md``).
    """
    if isinstance(exc, SpecError | DataError | NonFiniteError):
        return False
    if isinstance(exc, GenkitError | OSError | MemoryError):
        return True
    return "out of memory" in str(exc).lower()  # torch's OutOfMemoryError and kin


def _diverged(run_dir: Path, metric: str, value: float) -> str:
    """Why a trial has no metric to tell Optuna (which takes no nan or inf): the epoch at which
    its losses stopped being finite, from its record.
    """
    from ..record import read_history

    when = ""
    with contextlib.suppress(GenkitError, OSError, ValueError):
        columns = read_history(run_dir)
        losses = [columns[c] for c in ("train_loss", "test_loss") if c in columns]
        for epoch, row in zip(columns.get("epoch", []), zip(*losses, strict=True), strict=False):
            if any(v is not None and not math.isfinite(v) for v in row):
                when = f" at epoch {int(epoch or 0)}"
                break
    return (
        f"its {metric} is {value}: the run diverged{when} (its losses became nan or inf); "
        "lower train.lr, or set train.clip_grad_norm"
    )


def _fail(claim: Claim, message: str, log: TextIO | None, may_pass: bool) -> None:
    from optuna.trial import TrialState

    if log is not None:
        print(f"genkit: error: {message}", file=log, flush=True)
    claim.trial.set_user_attr("error", message[:2000])
    claim.trial.set_user_attr(RETRIABLE, may_pass)
    claim.study.tell(claim.trial, state=TrialState.FAIL)


def _work(directory: Path, storage_url: str | None) -> int:
    from ..training import TrainingInterrupted

    sweep = load_sweep(directory / SWEEP_FILE, check_combinations=False)
    storage = open_storage(storage_url, directory)
    (directory / LOGS).mkdir(exist_ok=True)
    while (claim := claim_next(sweep, storage, directory)) is not None:
        try:
            # line-buffered: a worker killed with kill -9 keeps its log up to its last line
            with (directory / LOGS / f"{claim.name}.log").open("a", buffering=1) as log:
                try:
                    run_trial(sweep, claim, directory, log)
                except TrainingInterrupted as exc:
                    print(f"genkit: {exc}", file=log)
                    return exc.exit_status
        finally:
            claim.release()
    return 0


def _follow_parent(parent: int) -> None:
    """Stop (as on SIGTERM: checkpoint, then exit) when the ``genkit sweep`` process is gone, so
    a sweep killed with ``kill -9`` leaves no worker behind.
    """

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True, name="genkit-follow-parent").start()


def main(argv: Sequence[str] | None = None) -> int:
    """Run one worker; the exit status is 0, 130/143 when interrupted, or 1 on an error."""
    parser = argparse.ArgumentParser(prog="genkit sweep worker")
    parser.add_argument("directory", type=Path)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--parent", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        keep_freed_memory()  # as the command line does: the worker owns its process
        if args.parent:
            _follow_parent(args.parent)
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        with own_file_errors(args.directory):
            return _work(args.directory, os.environ.get(STORAGE_ENV))
    except GenkitError as exc:
        print(f"genkit: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # before a trial began (Ctrl-C during one checkpoints it)
        return 130
