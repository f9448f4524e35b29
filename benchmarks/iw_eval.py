"""Time and memory of the importance-weighted bound: the chunk size, and freed memory kept.

The bound draws its K samples in chunks of at most ``max_batch`` examples x samples per decoder
call. Each chunk size runs twice: with glibc's default policy, which returns large freed
blocks to the kernel, and with the policy genkit's commands set
(:func:`genkit_core.memory.keep_freed_memory`). Each configuration runs in a fresh process (so
its peak memory is its own) on the 784-200-200-50 model of
``benchmarks/specs/vae_mnist_burda.yaml`` with one intra-op thread, and reports wall time, user
and system (kernel) CPU seconds, and the peak resident memory. Rounds
interleave the configurations, so the machine's drift falls on all of them alike; the table
gives medians over rounds. The weights are the untrained initial ones: the cost of a forward
pass does not depend on their values.

    python benchmarks/iw_eval.py                   # the table in docs/performance.md
    python benchmarks/iw_eval.py --smoke           # CI: tiny sizes, one round
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "benchmarks" / "specs" / "vae_mnist_burda.yaml"


def measure(
    max_batch: int, keep: bool, examples: int, samples: int, batch: int
) -> dict[str, float]:
    """Evaluate the bound once in this process: wall, user and system seconds, peak MiB."""
    import torch

    from genkit_core import build_model
    from genkit_core.evaluation import iw_log_likelihood
    from genkit_core.interfaces import DataInfo
    from genkit_core.memory import keep_freed_memory

    if keep and not keep_freed_memory():
        raise SystemExit("this C library's memory policy cannot be changed (not glibc)")

    torch.set_num_threads(1)
    torch.manual_seed(0)
    info = DataInfo(shape=(784,), num_classes=10, name="mnist", train_size=60_000)
    model = build_model(SPEC, data=info).eval()
    x = torch.rand(examples, 784).bernoulli()
    generator = torch.Generator().manual_seed(0)
    iw_log_likelihood(model, x[:2], None, 2, generator, max_batch)  # load every kernel once
    before, start = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    total = 0.0
    for first in range(0, examples, batch):
        ll = iw_log_likelihood(model, x[first : first + batch], None, samples, generator, max_batch)
        total += float(ll.sum())
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "wall": wall,
        "user": after.ru_utime - before.ru_utime,
        "sys": after.ru_stime - before.ru_stime,
        "peak_mib": after.ru_maxrss / 1024,
        "nll": -total / examples,
    }


def run_once(
    max_batch: int, keep: bool, examples: int, samples: int, batch: int
) -> dict[str, float]:
    """:func:`measure` in a fresh process."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, __file__, "--one", str(max_batch), "--keep", str(int(keep)),
         "--examples", str(examples), "--samples", str(samples), "--batch", str(batch)],
        check=True, capture_output=True, text=True, env=env,
    )  # fmt: skip
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--examples", type=int, default=1000, help="test images evaluated")
    parser.add_argument("--samples", type=int, default=1000, help="K")
    parser.add_argument("--batch", type=int, default=500, help="examples per batch (genkit eval)")
    parser.add_argument(
        "--max-batch", type=int, nargs="+", default=[1 << 15, 1 << 13, 1 << 12, 1 << 11, 1 << 10]
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one round (CI)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--keep", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        keep = bool(args.keep)
        print(json.dumps(measure(args.one, keep, args.examples, args.samples, args.batch)))
        return 0
    if args.smoke:
        args.examples, args.samples, args.batch, args.rounds = 20, 10, 10, 1
        args.max_batch = [100, 25]
    configs = [(m, keep) for m in args.max_batch for keep in (False, True)]
    results: dict[tuple[int, bool], list[dict[str, float]]] = {c: [] for c in configs}
    for _ in range(args.rounds):
        for max_batch, keep in configs:
            measured = run_once(max_batch, keep, args.examples, args.samples, args.batch)
            results[max_batch, keep].append(measured)
    print(
        f"{args.examples} examples, K = {args.samples}, batches of {args.batch}, one thread, "
        f"medians of {args.rounds} round(s)\n"
    )
    print("| max_batch | freed memory | wall s | user s | system s | peak MiB | -log p(x) |")
    print("|---|---|---|---|---|---|---|")
    for (max_batch, keep), rows in results.items():
        med = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        policy = "kept (genkit)" if keep else "returned (glibc)"
        print(
            f"| {max_batch} | {policy} | {med['wall']:.2f} | {med['user']:.2f} | "
            f"{med['sys']:.2f} | {med['peak_mib']:.0f} | {med['nll']:.4f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
