"""The run time of each disentanglement metric at its defaults (10,000 training points), for
docs/evaluation.md. The data is generated dSprites (cached under ``--root``); the
representation is a fixed random projection of each image to 10 dimensions, so the times are
the metrics' own (drawing images, fitting their classifiers), not an encoder's::

    OMP_NUM_THREADS=1 python docs/scripts/metrics_timing.py [--root data] [--metrics mig dci ...]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from genkit_plugins.data.dsprites import DSprites, DSpritesParams
from genkit_plugins.metrics import beta_vae_score, dci, factor_vae_score, mig, sap

METRICS = {
    "mig": mig,
    "factor_vae_score": factor_vae_score,
    "beta_vae_score": beta_vae_score,
    "dci": dci,
    "sap": sap,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="data", help="the cache folder of generated dSprites")
    parser.add_argument("--metrics", nargs="+", default=list(METRICS), choices=list(METRICS))
    args = parser.parse_args()
    data = DSprites(DSpritesParams(root=args.root))
    projection = torch.randn(64 * 64, 10, generator=torch.Generator().manual_seed(0))

    def represent(images: torch.Tensor) -> torch.Tensor:
        return (images.flatten(1).float() / 255) @ projection

    for name in args.metrics:
        start = time.perf_counter()
        scores = METRICS[name](data, represent, np.random.default_rng(0))
        seconds = time.perf_counter() - start
        shown = ", ".join(f"{k} {v:.3f}" for k, v in scores.items())
        print(f"| `{name}` | {seconds:.1f} s | {shown} |", flush=True)


if __name__ == "__main__":
    main()
