"""The run time of the sample-quality metrics (``fd``, ``precision_recall``) on a run, for
docs/evaluation.md: each at its defaults (10,000 draws, 10,000 test and 10,000 training
images), the digit classifier trained first into an empty cache (``--steps`` of them), then
read from it; wall clock and the process's CPU time (which a busy machine does not inflate)::

    OMP_NUM_THREADS=1 python docs/scripts/quality_timing.py RUN [--steps 1000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from genkit_core.run_metrics import evaluate_metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a run directory of an MNIST or digits model")
    parser.add_argument("--steps", type=int, default=1000, help="the classifier's steps")
    args = parser.parse_args()
    os.environ["GENKIT_CACHE"] = tempfile.mkdtemp(prefix="genkit-cache-")
    features = {"type": "digit_classifier", "steps": args.steps}
    for label, metric in (("fd, the classifier trained", "fd"), ("fd, the classifier cached", "fd"),
                          ("precision_recall, cached", "precision_recall")):  # fmt: skip
        started, cpu = time.perf_counter(), time.process_time()
        found = evaluate_metrics(args.run, [{"type": metric, "features": features}], cache=False)
        scores = ", ".join(f"{k} {v:.3f}" for k, v in found[metric]["scores"].items())
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        print(f"| {label} | {wall:.1f} s | {cpu:.1f} s | {scores} |", flush=True)


if __name__ == "__main__":
    main()
