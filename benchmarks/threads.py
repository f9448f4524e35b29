"""Seconds per training step at 1, 2 and all intra-op threads, on a quiet and on a busy CPU.

Each configuration trains in a fresh ``genkit train`` process with ``--set train.threads=N``;
"busy" runs a second process that spins one core for the whole configuration, as a shared
machine's neighbour would. Rounds interleave every configuration, so the machine's drift falls
on all of them alike; the table gives medians over rounds of each run's median epoch.

Models: ``small`` is the README's example (examples/vae.yaml: digits, MLP 512-256, batch 64),
``mlp`` the speed benchmark's MNIST MLP (benchmarks/specs/vae_mnist_mlp.yaml, batch 128) and
``conv`` the convolutional VAE of examples/vae_mnist_conv.yaml (batch 128) and ``wide`` one with
twice its channels at batch 512 (not run by default: minutes a step on a busy CPU), all on the
first ``--limit`` MNIST images. ``auto`` is the count ``train.threads: auto`` picks.

    python benchmarks/threads.py                 # the table in docs/performance.md
    python benchmarks/threads.py --models conv wide   # where a second thread starts to pay
    python benchmarks/threads.py --smoke         # CI: tiny random data, one round
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from mnist_data import DEFAULT_DATA, load_mnist, synthetic

ROOT = Path(__file__).resolve().parents[1]
SPIN = "while True: pass"


def _models(data: Path, limit_epochs: int, small_epochs: int) -> dict[str, list[str]]:
    """Each model as ``genkit train`` arguments."""
    mnist = [f"data.path={data}", "train.eval_every=1000000", f"train.epochs={limit_epochs}"]
    conv = [
        "data.flatten=false",
        "encoder={type: conv, channels: [32, 64], hidden: 256}",
        "decoder={type: conv, channels: [64, 32], hidden: 256}",
    ]
    wide = [
        "data.flatten=false",
        "train.batch_size=512",
        "encoder={type: conv, channels: [64, 128], hidden: 512}",
        "decoder={type: conv, channels: [128, 64], hidden: 512}",
    ]
    spec = str(ROOT / "benchmarks" / "specs" / "vae_mnist_mlp.yaml")
    return {
        "small": [str(ROOT / "examples" / "vae.yaml"), "--set", f"train.epochs={small_epochs}"],
        "mlp": [spec, *_sets(mnist)],
        "conv": [spec, *_sets(mnist + conv)],
        "wide": [spec, *_sets(mnist + wide)],
    }


def _sets(pairs: list[str]) -> list[str]:
    return [arg for pair in pairs for arg in ("--set", pair)]


def train_once(args: list[str], threads: int | str, busy: bool) -> dict[str, float]:
    """One ``genkit train`` process: its wall time, median seconds per step, steps, threads."""
    run = Path(tempfile.mkdtemp(prefix="genkit-threads-"))
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    spinner = subprocess.Popen([sys.executable, "-c", SPIN]) if busy else None
    try:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "genkit_core", "train", *args, "-o", str(run), "--overwrite",
             "-q", "--set", "train.progress=false", "--set", f"train.threads={threads}",
             "--set", "logging=[{type: csv}]"],
            check=True, capture_output=True, env=env,
        )  # fmt: skip
        wall = time.perf_counter() - start
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    steps = int(rows[0]["step"])
    per_step = statistics.median(float(r["seconds"]) for r in rows) / steps
    loop = sum(float(r["seconds"]) for r in rows)
    return {"wall": wall, "step_ms": 1000 * per_step, "loop": loop}


def auto_choice(args: list[str]) -> tuple[int, float | None]:
    """What ``train.threads: auto`` picks for a model, and the step's counted operations."""
    code = (
        "import sys, json\n"
        "from genkit_core.training import Trainer\n"
        "t = Trainer(sys.argv[1], sys.argv[2], overrides=sys.argv[3:], overwrite=True, "
        "stream=None)\n"
        "t.fit()\n"
        "print(json.dumps([t.threads, t.step_flops]))\n"
    )
    spec, sets = args[0], [a for a in args[1:] if a != "--set"]
    run = tempfile.mkdtemp(prefix="genkit-threads-")
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    done = subprocess.run(
        [sys.executable, "-c", code, spec, run, *sets, "train.epochs=1", "logging=[]"],
        check=True, capture_output=True, text=True, env=env,
    )  # fmt: skip
    threads, flops = json.loads(done.stdout.strip().splitlines()[-1])
    return threads, flops


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="an mnist.npz")
    parser.add_argument("--limit", type=int, default=10_000, help="MNIST images for mlp, conv")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=["small", "mlp", "conv"])
    parser.add_argument("--smoke", action="store_true", help="tiny random data, one round (CI)")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    counts = sorted({1, 2, cores})
    workdir = Path(tempfile.mkdtemp(prefix="genkit-threads-"))
    if args.smoke:
        arrays, args.rounds, args.models = synthetic(256, 64), 1, ["small"]
    elif not args.data.is_file():
        parser.error(f"{args.data} not found; pass --data PATH to an mnist.npz, or --smoke")
    else:
        arrays = load_mnist(args.data, args.limit)
    data = workdir / "mnist.npz"
    np.savez(data, **arrays)
    every = _models(data, 1, 2 if args.smoke else 10)
    models = {k: v for k, v in every.items() if k in args.models}
    if args.smoke:
        models["small"] += ["--set", "data.max_train=128"]
    results: dict[tuple[str, str, int], list[dict[str, float]]] = {}
    for round_ in range(args.rounds):
        for name, model_args in models.items():
            for busy in (False, True):
                for n in counts:
                    key = (name, "busy" if busy else "quiet", n)
                    results.setdefault(key, []).append(train_once(model_args, n, busy))
        print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    load = os.getloadavg()[0]
    print(f"{cores} cores, {args.rounds} rounds, load average {load:.1f} at the end")
    print("| model | step GFLOP | auto | CPU | " + " | ".join(f"{n} thr ms/step" for n in counts)
          + " | " + " | ".join(f"{n} thr wall s" for n in counts) + " |")  # fmt: skip
    print("|---|---|---|---|" + "---|" * (2 * len(counts)))
    for name, model_args in models.items():
        auto, flops = auto_choice(model_args)
        gflop = "n/a" if flops is None else f"{flops / 1e9:.2f}"
        for state in ("quiet", "busy"):
            rows = [results[(name, state, n)] for n in counts]
            step = [statistics.median(r["step_ms"] for r in row) for row in rows]
            wall = [statistics.median(r["wall"] for r in row) for row in rows]
            print(f"| {name} | {gflop} | {auto} | {state} | "
                  + " | ".join(f"{s:.2f}" for s in step) + " | "
                  + " | ".join(f"{w:.1f}" for w in wall) + " |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
