"""The README's first command as a user runs it: wall time against the loop time it reports.

``genkit train examples/vae.yaml`` runs in a fresh process; its wall time (launch to exit, so
Python's start, imports, data, every epoch's evaluation, pictures, weights and checkpoints
included) is set beside the loop time it reports (the sum of the ``seconds`` column of
metrics.csv). "busy" runs a second process that spins one core meanwhile, as a shared machine's
neighbour would. Rounds interleave quiet and busy runs (and each ``--checkout``, to compare code
before and after a change in one run). The bars of issue 16: wall <= 1.25 x loop + 6 s, and the
busy wall within 2x of the quiet one.

``--breakdown`` trains once in this process and times each part of the work outside the loop,
on the training thread (writes in the background are timed on the writer's thread, apart).
Parts overlap: "epoch end, all of it" holds evaluation, pictures and weights, and "file writes"
hold fsync and rename. With PYTHONPATH set to an older checkout it times that code's parts.

    python benchmarks/wall_time.py                       # 3 rounds, quiet and busy
    python benchmarks/wall_time.py --checkout /work/main # also the code of another checkout
    python benchmarks/wall_time.py --breakdown           # where the time outside the loop goes
    python benchmarks/wall_time.py --smoke               # CI: 2 epochs, one round
"""

from __future__ import annotations

import argparse
import csv
import functools
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "vae.yaml"
SPIN = "while True: pass"


def train_once(checkout: Path, sets: list[str], busy: bool) -> tuple[float, float, float]:
    """Run ``genkit train examples/vae.yaml`` with ``checkout``'s code: wall, loop and CPU
    seconds (user and system time of the process: what it would take on idle cores).
    """
    run = Path(tempfile.mkdtemp(prefix="genkit-wall-")) / "vae"
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    env["PYTHONPATH"] = str(checkout)
    spinner = subprocess.Popen([sys.executable, "-c", SPIN]) if busy else None
    try:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "genkit_core", "train", str(EXAMPLE), "-o", str(run), "-q",
             *[a for s in sets for a in ("--set", s)]],
            check=True, capture_output=True, env=env, cwd=checkout,
        )  # fmt: skip
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    loop = sum(float(r["seconds"]) for r in csv.DictReader((run / "metrics.csv").open()))
    return wall, loop, cpu


def compare(checkouts: list[Path], sets: list[str], rounds: int) -> None:
    """The wall and loop times of each checkout, quiet and busy, interleaved over rounds."""
    results: dict[tuple[Path, str], list[tuple[float, float, float]]] = defaultdict(list)
    for round_ in range(rounds):
        for checkout in checkouts:
            for state in ("quiet", "busy"):
                results[(checkout, state)].append(train_once(checkout, sets, state == "busy"))
        print(f"round {round_ + 1}/{rounds} done", file=sys.stderr, flush=True)
    print(f"{os.cpu_count()} cores, {rounds} rounds, load average {os.getloadavg()[0]:.1f} "
          f"at the end; settings: {' '.join(sets) or 'none'}")  # fmt: skip
    print("| code | machine | wall s | loop s | CPU s of the process | worst wall / (1.25 loop "
          "+ 6) | busy / quiet wall |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for checkout in checkouts:
        quiet = statistics.median(w for w, _, _ in results[(checkout, "quiet")])
        for state in ("quiet", "busy"):
            runs = results[(checkout, state)]
            wall = statistics.median(w for w, _, _ in runs)
            loop = statistics.median(lo for _, lo, _ in runs)
            cpu = statistics.median(c for _, _, c in runs)
            # the bar holds run by run: the worst run's ratio, not a ratio of medians
            worst = max(w / (1.25 * lo + 6) for w, lo, _ in runs)
            print(f"| {checkout} | {state} | {wall:.1f} | {loop:.1f} | {cpu:.1f} | {worst:.2f} "
                  f"| {wall / quiet:.2f} |")  # fmt: skip
    print("(medians over rounds; the spinner's own CPU time is not counted)")


def breakdown(sets: list[str]) -> None:
    """Train once in this process and time each part of the work outside the training loop."""
    start = time.perf_counter()
    import torch

    import genkit_core.files as files
    import genkit_core.images as images
    import genkit_core.training.trainer as trainer

    imported = time.perf_counter() - start
    spent: dict[str, float] = defaultdict(float)

    def timed(owner: object, name: str, label: str) -> None:
        original = getattr(owner, name, None)
        if original is None:  # older code (--breakdown of another checkout) lacks this part
            return

        @functools.wraps(original)
        def wrapper(*args: object, **kwargs: object) -> object:
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                main = threading.current_thread() is threading.main_thread()
                where = "training" if main else "writer"
                spent[f"{where}: {label}"] += time.perf_counter() - began

        setattr(owner, name, wrapper)

    for name, label in [
        ("load_data", "setup: loading the data"),
        ("build_model", "setup: building the model"),
        ("_check_support", "setup: checking the data"),
    ]:
        timed(trainer, name, label)
    timed(getattr(files, "BackgroundWriter", None), "__exit__", "waiting for the last writes")
    for name, label in [
        ("_setup_training", "setup: optimisers and batches"),
        ("_step_flops", "setup: counting a step's operations"),
        ("_evaluate", "evaluation"),
        ("_save_images", "pictures (drawing)"),
        ("_save_weights", "weights"),
        ("_checkpoint", "checkpoint"),
        ("_end_epoch", "epoch end, all of it"),
    ]:
        timed(trainer.Trainer, name, label)
    timed(images, "_draw_grid", "pictures (grid and PNG encoding)")
    timed(images, "save_image", "pictures (PNG encoding)")  # where torchvision is imported early
    timed(files, "save_safetensors_bytes", "safetensors serialisation")
    timed(files, "_write_now", "file writes (write, fsync, rename)")
    timed(os, "fsync", "fsync")
    timed(os, "replace", "rename")
    run = Path(tempfile.mkdtemp(prefix="genkit-wall-")) / "vae"
    began = time.perf_counter()
    t = trainer.Trainer(EXAMPLE, run, overrides=sets, stream=None)
    t.fit()
    fit = time.perf_counter() - began
    loop = sum(float(r["seconds"]) for r in csv.DictReader((run / "metrics.csv").open()))
    threads = getattr(t, "threads", torch.get_num_threads())
    print(f"threads {threads}; import {imported:.2f} s, fit {fit:.2f} s, loop {loop:.2f} s, "
          f"fit outside the loop {fit - loop:.2f} s")  # fmt: skip
    print("| where | part | seconds |\n|---|---|---|")
    for key, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        where, part = key.split(": ", 1)
        print(f"| {where} | {part} | {seconds:.2f} |")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument(
        "--checkout", type=Path, action="append", default=[],
        help="also time another checkout's code (repeatable); this one always runs",
    )  # fmt: skip
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--breakdown", action="store_true", help="time the parts, in process")
    parser.add_argument("--smoke", action="store_true", help="2 epochs, one round (CI)")
    args = parser.parse_args()
    if args.smoke:
        args.rounds, args.set = 1, [*args.set, "train.epochs=2"]
    if args.breakdown:
        breakdown(args.set)
    else:
        compare([ROOT, *args.checkout], args.set, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
