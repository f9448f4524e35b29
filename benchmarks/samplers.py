"""Wall time of fitting each ex-post sampler at its defaults, and of drawing 10,000 codes.

The codes are 60,000 synthetic 16-dimensional ones shaped like an autoencoder's (a non-Gaussian
cloud: a Gaussian bent by a tanh and mixed by a random matrix), unless ``--codes FILE.npy``
gives real ones. Each prior is fitted through ``Prior.fit`` as ``genkit fit-prior`` fits it, at
the thread count ``--threads`` sets (1 by default). Each time is given as wall-clock seconds
and, in brackets, the CPU seconds the process used (on a shared machine the wall time grows
with the load; the CPU time much less).

    OMP_NUM_THREADS=1 python benchmarks/samplers.py        # the table in docs/evaluation.md
    python benchmarks/samplers.py --smoke                   # CI: 600 codes, 1 epoch
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from genkit_core.components import build_component, component_spec

SAMPLERS = ("code_gaussian", "code_gmm", "code_maf", "code_vae", "code_diffusion")


def _codes(n: int, dim: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(n, dim, generator=g)
    mixing = torch.randn(dim, dim, generator=g) / dim**0.5
    return torch.tanh(1.5 * base) @ mixing + 0.1 * base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes", help="an (N, L) .npy file of codes (default: synthetic)")
    parser.add_argument("--n", type=int, default=60_000)
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--draws", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", nargs="*", default=list(SAMPLERS))
    parser.add_argument("--smoke", action="store_true", help="600 codes, one epoch (CI)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    codes = (
        torch.as_tensor(np.load(args.codes)).float()
        if args.codes
        else _codes(600 if args.smoke else args.n, args.dim)
    )
    print(f"| prior | fit {len(codes):,} x {codes.shape[1]} codes: wall (CPU) s | "
          f"draw {args.draws:,}: wall (CPU) s |")  # fmt: skip
    print("| --- | --- | --- |")
    for name in args.only:
        extra = {"epochs": 1} if args.smoke and name not in ("code_gaussian", "code_gmm") else {}
        section = component_spec("prior", {"type": name, **extra}, example=name)
        prior = build_component("prior", section, latent_dim=codes.shape[1])
        start, cpu = time.perf_counter(), time.process_time()
        prior.fit(codes)
        fitted = f"{time.perf_counter() - start:.1f} ({time.process_time() - cpu:.1f})"
        torch.manual_seed(0)
        start, cpu = time.perf_counter(), time.process_time()
        with torch.no_grad():
            drawn = prior.sample(args.draws)
        drew = f"{time.perf_counter() - start:.2f} ({time.process_time() - cpu:.2f})"
        assert drawn.shape == (args.draws, codes.shape[1])
        print(f"| {name} | {fitted} | {drew} |", flush=True)


if __name__ == "__main__":
    main()
