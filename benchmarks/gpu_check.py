"""Every GPU figure issue 16 asks for, in one run (about 5 minutes on an H200; at most 12).

1. benchmarks/train_speed.py at batch 128 and 1024: genkit's loop and wall time per epoch beside
   the plain loop and the plain loop captured as a CUDA graph, with the equal-work checks and
   the test losses over 3 seeds; the bar: genkit's wall per epoch <= 1.3 x the graph loop.
2. benchmarks/concurrent_runs.py: the Burda spec (batch 20) alone, its seconds per epoch and the
   full schedule's projected time, and 1, 2, 4 and 8 runs sharing the GPU.

The output is Markdown for docs/performance.md, on stdout and in ``--out``.

    python benchmarks/gpu_check.py --data /path/to/mnist.npz --out gpu_check.md
    python benchmarks/gpu_check.py --smoke          # CI: the same steps on the CPU, tiny data
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from mnist_data import DEFAULT_DATA

HERE = Path(__file__).resolve().parent
WALL_BAR = 1.3
"""Issue 16: genkit's wall time per epoch at most this times the CUDA-graph loop's."""


def _run(command: list[str], timeout: float) -> str:
    """Run a benchmark script; its stdout (it must succeed within ``timeout`` seconds)."""
    done = subprocess.run(
        [sys.executable, *command], cwd=HERE, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    return done.stdout


def speed_section(args: argparse.Namespace, batch: int) -> list[str]:
    """train_speed.py at one batch size, and genkit's wall against the graph loop."""
    out = Path(tempfile.mkdtemp(prefix="genkit-gpu-check-")) / "speed.json"
    if args.smoke:
        command = ["train_speed.py", "--smoke", "--batch-size", str(batch), "--json", str(out)]
    else:
        command = [
            "train_speed.py", "--device", "cuda", "--batch-size", str(batch), "--rounds", "3",
            "--epochs", "10", "--no-pythae", "--data", str(args.data), "--json", str(out),
        ]  # fmt: skip
    table = _run(command, timeout=300)
    results = json.loads(out.read_text())
    graph = "plain-graph" if "plain-graph" in results else "plain-fused"  # no graphs on a CPU
    loop = statistics.median(results[graph]["epochs"])
    wall = statistics.median(results["genkit"]["wall"])
    verdict = "meets" if wall <= WALL_BAR * loop else "MISSES"
    return [
        f"### Batch {batch}",
        "",
        f"`python benchmarks/{' '.join(command[:-2])}`",
        "",
        table.strip(),
        "",
        f"genkit's wall per epoch is {wall / loop:.2f}x the {graph} loop's ({wall:.3f} s against "
        f"{loop:.3f} s): it {verdict} the bar of {WALL_BAR}x.",
        "",
    ]


def concurrent_section(args: argparse.Namespace) -> list[str]:
    if args.smoke:
        command = ["concurrent_runs.py", "--smoke"]
    else:
        command = ["concurrent_runs.py", "--data", str(args.data), "--runs", "1", "2", "4", "8"]
    return [
        "### The Burda spec, and several runs on one GPU",
        "",
        f"`python benchmarks/{' '.join(command)}`",
        "",
        _run(command, timeout=300).strip(),
        "",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="an mnist.npz")
    parser.add_argument("--out", type=Path, help="also write the Markdown here")
    parser.add_argument("--smoke", action="store_true", help="the CPU, tiny data (CI)")
    args = parser.parse_args()
    if not args.smoke and not torch.cuda.is_available():
        parser.error("no CUDA device here; run it where there is one, or pass --smoke")
    if not args.smoke and not args.data.is_file():
        parser.error(f"{args.data} not found; pass --data PATH to an mnist.npz")
    began = time.perf_counter()
    device = "the CPU (smoke run)" if args.smoke else torch.cuda.get_device_name()
    lines = [
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC on {device}, torch "
        f"{torch.__version__}, by `python benchmarks/gpu_check.py`.",
        "",
    ]
    for batch in (128, 1024):
        lines += speed_section(args, batch)
    lines += concurrent_section(args)
    lines.append(f"The whole check took {(time.perf_counter() - began) / 60:.1f} minutes.")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
