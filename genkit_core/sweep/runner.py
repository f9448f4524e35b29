"""``run_sweep``: what ``genkit sweep FILE -o DIR [--workers N] [--storage URL]`` does.

It checks the sweep, prepares DIR (``sweep.yaml``, the journal storage unless ``--storage``
names a database), starts N worker processes (:mod:`~genkit_core.sweep.worker`) spread over
the visible GPUs, or over the CPU cores with their threads pinned, reports progress, and
returns when they are done. Ctrl-C or SIGTERM is passed on to the workers, which checkpoint
their trials; running the same command again finishes what is missing.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import yaml
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from ..errors import RunError
from ..files import atomic_write
from ..spec import dump_spec
from .loading import load_sweep
from .plan import Sweep
from .storage import (
    JOURNAL,
    check_shared,
    open_storage,
    own_file_errors,
    repair_journal,
    show_url,
)
from .study import (
    LOCKS,
    PRUNED_AT,
    RETRIABLE,
    RETRY_OF,
    Counts,
    count_trials,
    directory_lock,
    failed_trials,
    is_orphan,
    open_study,
    retry_failed,
    sweep_trials,
)
from .worker import LOGS, STORAGE_ENV, SWEEP_FILE

__all__ = ["SweepResult", "run_sweep"]

_ID_FILE = Path(LOCKS) / "directory-id"
_ID_ATTR = "genkit_directory"
_POLL_SECONDS = 1.0


@dataclass(frozen=True)
class SweepResult:
    """How a sweep ended.

    Attributes:
        directory: DIR.
        counts: trials done, failed, running (elsewhere) and left.
        failed: ``(trial, error)`` of each failed trial.
        orphaned: trials a dead worker left RUNNING: the next ``genkit sweep`` resumes them.
        best: ``(trial, value)`` of the best finished trial, by the sweep's metric.
        retriable: of the failed trials, those the same command runs again (they failed for a
            cause that may pass: a full disk, a damaged file).
    """

    directory: Path
    counts: Counts
    failed: list[tuple[str, str]]
    orphaned: int
    best: tuple[str, float] | None
    retriable: int = 0


def run_sweep(
    source: str | Path,
    directory: str | Path,
    workers: int = 1,
    storage: str | None = None,
    stream: TextIO | None = None,
    command: str | None = None,
) -> SweepResult:
    """Run the sweep in ``source`` into ``directory`` with ``workers`` processes.

    Args:
        source: the sweep file.
        directory: DIR, where each trial's run directory goes.
        workers: worker processes on this machine.
        storage: an Optuna database URL shared with workers elsewhere (default: a journal file
            in DIR).
        stream: where progress goes (None: nowhere).
        command: the command that continues the sweep, for the hint after Ctrl-C (default:
            ``genkit sweep`` with these arguments, the storage's password masked).

    Raises:
        SpecError: the sweep file is invalid.
        RunError: DIR holds something else, the storage cannot be opened, or a worker could
            not start.
        TrainingInterrupted: Ctrl-C or SIGTERM; the trials are checkpointed.
    """
    sweep = load_sweep(source)
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise RunError(f"{directory}: exists and is not a directory; choose another -o")
    say = _sayer(stream)
    if storage is not None:
        check_shared(storage)  # before DIR is touched
    with own_file_errors(directory):
        # Sweeps started at once on several machines agree through DIR's lock. It also keeps
        # them from creating a new database's tables at once, which PostgreSQL refuses
        # (UniqueViolation); what a refused sweep wrote in DIR is removed again.
        with _set_up(directory):
            fresh = _prepare(sweep, directory)
            if storage is None:
                dropped = repair_journal(directory / JOURNAL)
                if dropped:
                    say(f"sweep {sweep.name}: {dropped}")
            store = open_storage(storage, directory)
            _bind(store, sweep, directory, fresh)
            retried = retry_failed(sweep, store)
        say(f"sweep {sweep.name}: {_size(sweep)} into {directory}")
        if retried:
            say(f"  again: {retried} trial{'s' * (retried > 1)} that failed for a cause that may "
                "have passed (a full disk, a damaged file)")  # fmt: skip
        counts = count_trials(sweep_trials(sweep, store))
        needed = max(1, min(workers, counts.left + counts.running))  # no idle process per trial
        stop = _Stop()
        with stop.catching():
            pool = _start_workers(directory, storage, needed, say)
            _follow(sweep, store, pool, stop, say)
        if stop.signum is not None:
            from ..training import TrainingInterrupted

            if command is None:
                words = ["genkit", "sweep", str(source), "-o", str(directory)]
                words += ["--workers", str(workers)] if workers != 1 else []
                words += ["--storage", show_url(storage)] if storage is not None else []
                command = shlex.join(words)
            raise TrainingInterrupted(
                f"sweep interrupted; its trials are checkpointed. Continue with the same command "
                f"({command})",
                stop.signum,
            )
        return _result(sweep, store, directory)


@contextlib.contextmanager
def _set_up(directory: Path) -> Iterator[None]:
    """Hold DIR's lock while the sweep sets DIR up, and leave DIR as it was found when the sweep
    is refused: the files it added, and the directory (and parents) it made.

    Only what this process added while it held the lock is removed: another sweep started at
    once on DIR may have set it up while this one waited, and its files are never touched. DIR
    and ``.locks/`` go only when nobody else has written anything there.
    """
    made = next((p for p in [*reversed(directory.parents), directory] if not p.exists()), None)
    before = set(directory.iterdir()) if made is None else set()
    locks = directory / LOCKS
    with directory_lock(directory):
        held = {*directory.iterdir(), *locks.iterdir()}
        try:
            yield
        except BaseException:
            for path in {*directory.iterdir(), *locks.iterdir()} - held:
                shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
            untouched = held - before <= {locks, locks / "claim.lock"}
            if untouched and made is not None:
                shutil.rmtree(made, ignore_errors=True)
            elif untouched and locks not in before:
                shutil.rmtree(locks, ignore_errors=True)
            raise


def _prepare(sweep: Sweep, directory: Path) -> bool:
    """Write ``DIR/sweep.yaml``, or check that DIR holds this sweep; whether DIR is new."""
    file = directory / SWEEP_FILE
    mine = sweep.as_dict()
    if file.is_file():
        recorded = yaml.safe_load(file.read_text())
        if recorded != mine:
            recorded = recorded if isinstance(recorded, dict) else {}
            differ = [k for k in mine if recorded.get(k) != mine[k]]
            raise RunError(
                f"{directory}: holds another sweep (its {SWEEP_FILE} differs in "
                f"{', '.join(differ) or 'its fields'}); choose another -o, or continue that one "
                f"with genkit sweep {file} -o {directory}"
            )
        return False
    if any(p.name != LOCKS for p in directory.iterdir()):
        raise RunError(f"{directory}: holds files and no {SWEEP_FILE}; choose another -o")
    atomic_write(directory / _ID_FILE, uuid.uuid4().hex.encode())
    atomic_write(file, dump_spec(mine).encode())
    return True


def _bind(store: BaseStorage, sweep: Sweep, directory: Path, fresh: bool) -> None:
    """Tie the sweep's studies to DIR, so that workers sharing a storage share one DIR."""
    mine = (directory / _ID_FILE).read_text().strip() if (directory / _ID_FILE).is_file() else ""
    for plan in sweep.studies():
        study = open_study(store, sweep, plan)
        recorded = study.user_attrs.get(_ID_ATTR)
        if recorded is None and (fresh or not study.trials):
            study.set_user_attr(_ID_ATTR, mine)
        elif recorded != mine:
            raise RunError(
                f"the study '{plan.name}' writes its trials to another directory than "
                f"{directory}; workers that share a --storage must share -o (on several "
                "machines: one directory on a network file system), or give this sweep another "
                "name:"
            )


def _size(sweep: Sweep) -> str:
    plans = sweep.studies()
    total = sum(p.budget for p in plans)
    if len(plans) == 1:
        return f"{total} trials"
    return f"{total} trials ({len(plans)} grid cells x {sweep.trials} searched)"


class _Stop:
    """Ctrl-C or SIGTERM to ``genkit sweep``: pass it to every worker once, then wait for them
    to checkpoint (the workers run in their own sessions, so a terminal's Ctrl-C reaches them
    through here only).
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.pool: list[subprocess.Popen[bytes]] = []

    def catching(self) -> Any:

        @contextlib.contextmanager
        def handlers() -> Any:
            previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for s, handler in previous.items():
                    signal.signal(s, handler)

        return handlers()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        first = self.signum is None
        self.signum = signum
        self.forward(signum if first else signal.SIGKILL)

    def forward(self, signum: int) -> None:
        """Send ``signum`` to every worker still running."""
        for process in self.pool:
            if process.poll() is None:
                process.send_signal(signum)


def _start_workers(
    directory: Path, storage: str | None, n: int, say: Callable[[str], None]
) -> list[subprocess.Popen[bytes]]:
    gpus = _visible_gpus()
    threads = max(1, len(os.sched_getaffinity(0)) // n) if hasattr(os, "sched_getaffinity") else 1
    pool = []
    for i in range(n):
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        env.pop(STORAGE_ENV, None)
        if storage is not None:
            env[STORAGE_ENV] = storage
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = gpus[i % len(gpus)]
        try:
            pool.append(start_worker(directory, threads, os.getpid(), env=env,
                                     start_new_session=True))  # fmt: skip
        except OSError as exc:
            raise RunError(f"cannot start a sweep worker ({exc.strerror})") from None
    where = (
        f"over GPUs {', '.join(sorted(set(gpus)))}"
        if gpus
        else f"on the CPU, {threads} thread{'s' * (threads > 1)} each"
    )
    say(f"  {n} worker{'s' * (n > 1)} {where}; logs in {directory / LOGS}")
    return pool


# The worker's entry point, run as ``python -c``. ``python -m genkit_core.sweep`` would put the
# working directory first on sys.path, so a yaml.py or torch.py where the user types genkit sweep
# would run in every worker. ``-I`` would also drop PYTHONPATH and the user's site-packages, where
# people install genkit and their plugins, and ``-P`` needs Python 3.11. ``-c`` puts '' (the
# working directory) first on sys.path and nothing else; the launcher removes it before it
# imports anything, so PYTHONPATH, virtual environments and editable installs work as in the
# ``genkit`` command itself (whose console script puts its own bin/ first, not the working
# directory).
# Ctrl-C while a worker starts: it is started with SIGINT blocked (a signal mask outlives exec),
# so none arrives while Python initialises (a KeyboardInterrupt there is a "Fatal Python error"
# and a traceback); the launcher unblocks it once a handler ends the worker at once, while it
# imports (it holds no file or lock yet; an exception could be swallowed by a library's bare
# except: during its import, and the worker would run on). The worker's main handles Ctrl-C
# from then on (a trial is checkpointed).
_LAUNCHER = """\
import os, signal, sys
if sys.path and sys.path[0] == "":
    del sys.path[0]
signal.signal(signal.SIGINT, lambda signum, frame: os._exit(128 + signum))
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
from genkit_core.sweep.worker import main
signal.signal(signal.SIGINT, signal.default_int_handler)
sys.exit(main(sys.argv[1:]))
"""


def start_worker(
    directory: Path, threads: int, parent: int, **popen: Any
) -> subprocess.Popen[bytes]:
    """Start one sweep worker (see ``_LAUNCHER`` for how and why); ``popen`` goes to Popen.

    Raises:
        OSError: it could not be started.
    """
    command = [sys.executable, "-c", _LAUNCHER, str(directory), "--threads", str(threads),
               "--parent", str(parent)]  # fmt: skip
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        return subprocess.Popen(command, **popen)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _visible_gpus() -> list[str]:
    """The GPUs workers may use, as ``CUDA_VISIBLE_DEVICES`` entries."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d.strip() for d in visible.split(",") if d.strip() and d.strip() != "-1"]
    import torch

    return [str(i) for i in range(torch.cuda.device_count())]


def _follow(
    sweep: Sweep,
    store: BaseStorage,
    pool: list[subprocess.Popen[bytes]],
    stop: _Stop,
    say: Callable[[str], None],
) -> None:
    """Report progress until every worker has exited."""
    stop.pool = pool
    if stop.signum is not None:  # it came while the workers were starting
        stop.forward(stop.signum)
    reported: set[tuple[str, int]] = set()
    last = ""
    while True:
        running = any(p.poll() is None for p in pool)
        studies = sweep_trials(sweep, store)
        for plan, trials in studies:
            again = {t.user_attrs[RETRY_OF] for t in trials if RETRY_OF in t.user_attrs}
            for t in trials:
                if (
                    t.state.is_finished()
                    and t.number not in again
                    and (plan.name, t.number) not in reported
                ):
                    reported.add((plan.name, t.number))
                    say(_finished_line(sweep, t))
        line = str(count_trials(studies))
        if line != last:
            say(f"sweep {sweep.name}: {line}")
            last = line
        if not running:
            return
        time.sleep(_POLL_SECONDS)


def _finished_line(sweep: Sweep, trial: Any) -> str:
    name = trial.user_attrs.get("run", f"trial {trial.number}")
    if trial.state == TrialState.COMPLETE:
        return f"  done {name}: {sweep.metric} {trial.value:.4f}"
    if trial.state == TrialState.PRUNED:
        return f"  pruned {name} after epoch {trial.user_attrs.get(PRUNED_AT, '?')}"
    return f"  FAILED {name}: {trial.user_attrs.get('error', trial.state.name.lower())}"


def _result(sweep: Sweep, store: BaseStorage, directory: Path) -> SweepResult:
    studies = sweep_trials(sweep, store)
    failed, orphaned, retriable = [], 0, 0
    best: tuple[str, float] | None = None
    sign = 1 if sweep.direction == "minimize" else -1
    for plan, trials in studies:
        failures = failed_trials(trials)
        for t in trials:
            name = t.user_attrs.get("run", f"{plan.name} trial {t.number}")
            if t in failures:
                failed.append((name, t.user_attrs.get("error", t.state.name.lower())))
                retriable += bool(t.user_attrs.get(RETRIABLE))
            elif t.state == TrialState.RUNNING and is_orphan(directory, plan.name, t.number):
                orphaned += 1
            elif (
                t.state == TrialState.COMPLETE
                and t.value is not None  # a complete trial has its value
                and (best is None or sign * t.value < sign * best[1])
            ):
                best = (name, t.value)
    return SweepResult(directory, count_trials(studies), failed, orphaned, best, retriable)


def _sayer(stream: TextIO | None) -> Callable[[str], None]:
    def say(line: str) -> None:
        if stream is not None:
            print(line, file=stream, flush=True)

    return say
