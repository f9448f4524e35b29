"""Throughput of N training runs sharing one GPU: the Burda spec, 1, 2, 4 and 8 at once.

Each run is its own ``genkit train benchmarks/specs/vae_mnist_burda.yaml`` process (batch 20,
the step replayed as a CUDA graph), started together with the others. A run's speed is its steps per
second over its median epoch (metrics.csv); the aggregate is the sum over the runs, and the
"wall" column counts every step of every run over the time from the first start to the last
exit (start-up and evaluation included). The row of one run gives the Burda spec's seconds per
epoch and the full schedule's projected time (3,280 epochs).

    python benchmarks/concurrent_runs.py --data mnist.npz                    # GPU
    python benchmarks/concurrent_runs.py --smoke                             # CI: CPU, tiny data
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from mnist_data import DEFAULT_DATA, synthetic

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "benchmarks" / "specs" / "vae_mnist_burda.yaml"  # reads an npz: data.path
FULL_SCHEDULE_EPOCHS = 3280


def run_together(n: int, data: Path, device: str, epochs: int, sets: list[str]) -> dict[str, float]:
    """Start ``n`` runs at once; their median-epoch speeds and the wall-clock throughput."""
    workdir = Path(tempfile.mkdtemp(prefix=f"genkit-concurrent-{n}-"))
    args = [
        f"data.path={data}", f"train.device={device}", f"train.epochs={epochs}",
        "train.progress=false", "logging=[{type: csv}]", *sets,
    ]  # fmt: skip
    start = time.perf_counter()
    command = [sys.executable, "-m", "genkit_core", "train", str(SPEC), "-q"]
    command += [a for s in args for a in ("--set", s)]
    processes = [
        subprocess.Popen(
            [*command, "-o", str(workdir / str(i)), "--set", f"train.seed={i}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(n)
    ]
    for process in processes:
        _, err = process.communicate()
        if process.returncode:
            raise SystemExit(f"a run failed: {err.strip().splitlines()[-1:]}")
    wall = time.perf_counter() - start
    speeds, seconds, steps = [], [], 0
    for i in range(n):
        rows = list(csv.DictReader((workdir / str(i) / "metrics.csv").open()))
        per_epoch = int(rows[0]["step"])
        median = statistics.median(float(r["seconds"]) for r in rows)
        seconds.append(median)
        speeds.append(per_epoch / median)
        steps += int(rows[-1]["step"])
    return {
        "seconds_per_epoch": statistics.median(seconds),
        "steps_per_epoch": per_epoch,
        "aggregate": sum(speeds),
        "wall_aggregate": steps / wall,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cuda", choices=["cpu", "cuda"])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="an mnist.npz")
    parser.add_argument("--runs", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--epochs", type=int, default=3, help="epochs of each run")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--smoke", action="store_true", help="CPU, tiny data, 1 and 2 runs (CI)")
    args = parser.parse_args()
    data = args.data
    if args.smoke:
        data = Path(tempfile.mkdtemp(prefix="genkit-concurrent-")) / "mnist.npz"
        np.savez(data, **synthetic(200, 100))
        args.device, args.runs, args.epochs = "cpu", [1, 2], 1
        args.set += ["train.eval_every=1", "train.threads=1"]
    elif not data.is_file():
        parser.error(f"{data} not found; pass --data PATH to an mnist.npz, or --smoke")
    rows = {n: run_together(n, data, args.device, args.epochs, args.set) for n in args.runs}
    one = rows[min(rows)]
    print(f"{args.device}, {SPEC.name}, {args.epochs} epochs per run, "
          f"{os.cpu_count()} CPU cores")  # fmt: skip
    print("| runs at once | s/epoch per run (median) | aggregate steps/s | x one run "
          "| steps/s incl. start-up (wall) |")  # fmt: skip
    print("|---|---|---|---|---|")
    for n, row in rows.items():
        gain = row["aggregate"] / one["aggregate"]
        print(f"| {n} | {row['seconds_per_epoch']:.3f} | {row['aggregate']:,.0f} | {gain:.2f} "
              f"| {row['wall_aggregate']:,.1f} |")  # fmt: skip
    epoch, steps = one["seconds_per_epoch"], one["steps_per_epoch"]
    print(f"\nOne run: {epoch:.3f} s per epoch of {steps} steps ({1e6 * epoch / steps:.0f} us a "
          f"step); the full schedule of {FULL_SCHEDULE_EPOCHS} epochs projects to "
          f"{epoch * FULL_SCHEDULE_EPOCHS / 60:.1f} minutes.")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
