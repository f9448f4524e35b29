"""How genkit's epoch time and peak memory grow with data set size and batch size.

Each configuration trains the benchmark model (benchmarks/specs/vae_mnist_mlp.yaml) in a fresh
subprocess, so the peak resident memory (CPU) or peak allocated device memory (CUDA) is that
configuration's alone.

    python benchmarks/scaling.py --device cpu
    python benchmarks/scaling.py --device cuda --batch-sizes 128 1024 4096
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from mnist_data import DEFAULT_DATA, load_mnist, synthetic

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "benchmarks" / "specs" / "vae_mnist_mlp.yaml"


def worker(data: Path, device: str, batch: int, epochs: int) -> dict[str, float]:
    """Train once in this process; report seconds per epoch (median) and peak memory."""
    import torch

    from genkit_core.training import Trainer

    run_dir = Path(tempfile.mkdtemp())
    overrides = [
        f"data.path={data}", f"train.device={device}", f"train.batch_size={batch}",
        f"train.epochs={epochs}", "logging=[{type: csv}]",
    ]  # fmt: skip
    Trainer(SPEC, run_dir, overrides=overrides, overwrite=True, stream=None).fit()
    seconds = sorted(float(r["seconds"]) for r in csv.DictReader((run_dir / "metrics.csv").open()))
    peak = (
        torch.cuda.max_memory_allocated() / 2**20
        if device == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    )
    return {"seconds_per_epoch": seconds[len(seconds) // 2], "peak_mib": peak}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 60_000])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 128, 512, 1024])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument(
        "--worker", nargs=3, metavar=("DATA", "BATCH", "EPOCHS"), help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--smoke", action="store_true", help="tiny random data, one epoch, two sizes (CI)"
    )
    args = parser.parse_args()
    if args.smoke:
        args.sizes, args.batch_sizes, args.epochs = [256, 512], [64], 1
    elif not args.worker and not args.data.is_file():
        parser.error(f"{args.data} not found; pass --data PATH to an mnist.npz, or --smoke")
    if args.worker:
        data, batch, epochs = args.worker
        print(json.dumps(worker(Path(data), args.device, int(batch), int(epochs))))
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="genkit-scaling-"))
    arrays = synthetic(max(args.sizes), 128) if args.smoke else load_mnist(args.data)
    print("| device | train examples | batch | s/epoch | s per 10k examples | peak MiB |")
    print("|---|---|---|---|---|---|")
    configs = [(n, 128) for n in args.sizes] + [
        (max(args.sizes), b) for b in args.batch_sizes if b != 128
    ]
    for n, batch in configs:
        path = workdir / f"mnist_{n}.npz"
        if not path.exists():
            np.savez(path, x_train=arrays["x_train"][:n], y_train=arrays["y_train"][:n],
                     x_test=arrays["x_test"], y_test=arrays["y_test"])  # fmt: skip
        done = subprocess.run(
            [sys.executable, __file__, "--device", args.device,
             "--worker", str(path), str(batch), str(args.epochs)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        result = json.loads(done.stdout.strip().splitlines()[-1])
        s = result["seconds_per_epoch"]
        cells = [
            args.device,
            n,
            batch,
            f"{s:.3f}",
            f"{s / n * 10_000:.3f}",
            f"{result['peak_mib']:.0f}",
        ]
        print("| " + " | ".join(map(str, cells)) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
