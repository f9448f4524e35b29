"""The run time of the sample-quality metrics (``fd``, ``precision_recall``) on a run, for
docs/evaluation.md: each at its defaults (10,000 draws, 10,000 test and 10,000 training
images), the digit classifier trained first into an empty cache, then read from it::

    OMP_NUM_THREADS=1 python docs/scripts/quality_timing.py RUN
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
    args = parser.parse_args()
    os.environ["GENKIT_CACHE"] = tempfile.mkdtemp(prefix="genkit-cache-")
    for label, metric in (("fd, the classifier trained", "fd"), ("fd, the classifier cached", "fd"),
                          ("precision_recall, cached", "precision_recall")):  # fmt: skip
        started = time.perf_counter()
        found = evaluate_metrics(args.run, [metric], cache=False)
        scores = ", ".join(f"{k} {v:.3f}" for k, v in found[metric]["scores"].items())
        print(f"| {label} | {time.perf_counter() - started:.1f} s | {scores} |", flush=True)


if __name__ == "__main__":
    main()
