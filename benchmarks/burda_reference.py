"""A bare PyTorch loop for the Burda et al. (2015) VAE, beside genkit's spec of the same model.

Identical settings to examples/zoo/vae_mnist_burda.yaml, written by hand: 784-200-200-50 tanh MLPs,
a Bernoulli decoder on logits, MNIST binarised afresh every epoch (test set binarised once),
Adam (eps 1e-4), batch 20, and the lr schedule 1e-3 * 10^(-i/7) over stages of relative length
3^i, compressed to --epochs. It reports the test negative ELBO and the importance-weighted
estimate of -log p(x) with K samples, computed here independently of genkit's evaluator.

    python benchmarks/burda_reference.py --epochs 100 --iw-samples 5000
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from mnist_data import DEFAULT_DATA, load_mnist, synthetic
from torch import nn

STAGES = [(3**i, 10 ** (-i / 7)) for i in range(8)]


class BurdaVAE(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(784, 200), nn.Tanh(), nn.Linear(200, 200), nn.Tanh(), nn.Linear(200, 100)
        )
        self.decoder = nn.Sequential(
            nn.Linear(50, 200), nn.Tanh(), nn.Linear(200, 200), nn.Tanh(), nn.Linear(200, 784)
        )

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, torch.exp(0.5 * logvar)

    def log_px(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return -F.binary_cross_entropy_with_logits(self.decoder(z), x, reduction="none").sum(-1)

    def elbo(self, x: torch.Tensor) -> torch.Tensor:
        mu, sigma = self.posterior(x)
        z = mu + sigma * torch.randn_like(mu)
        kl = 0.5 * (mu**2 + sigma**2 - 2 * torch.log(sigma) - 1).sum(-1)
        return self.log_px(x, z) - kl

    @torch.no_grad()
    def iw_log_px(self, x: torch.Tensor, k: int, chunk: int = 500) -> torch.Tensor:
        """log (1/K) sum_k p(x|z_k) p(z_k) / q(z_k|x), z_k ~ q(z|x), in chunks of samples."""
        mu, sigma = self.posterior(x)
        parts = []
        for start in range(0, k, chunk):
            n = min(chunk, k - start)
            eps = torch.randn(n, *mu.shape)
            z = mu + sigma * eps
            log_q = (-0.5 * eps**2 - torch.log(sigma) - 0.5 * math.log(2 * math.pi)).sum(-1)
            log_p = (-0.5 * z**2 - 0.5 * math.log(2 * math.pi)).sum(-1)
            log_px = self.log_px(x.expand(n, *x.shape).reshape(-1, 784), z.reshape(-1, 50)).view(
                n, -1
            )
            parts.append(torch.logsumexp(log_px + log_p - log_q, dim=0))
        return torch.logsumexp(torch.stack(parts), dim=0) - math.log(k)


def lr_factor(progress: float) -> float:
    """The stage factor at training progress in [0, 1] (stage lengths scaled to the run)."""
    position = progress * sum(length for length, _ in STAGES)
    for length, factor in STAGES:
        if position < length:
            return factor
        position -= length
    return STAGES[-1][1]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--iw-samples", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--smoke", action="store_true", help="tiny random data, one epoch, K=10 (CI)"
    )
    args = parser.parse_args()
    if args.smoke:
        args.epochs, args.iw_samples = 1, 10
    elif not args.data.is_file():
        parser.error(f"{args.data} not found; pass --data PATH to an mnist.npz, or --smoke")
    torch.manual_seed(args.seed)
    arrays = synthetic(200, 100) if args.smoke else load_mnist(args.data)
    grey_train = torch.from_numpy(arrays["x_train"]).reshape(-1, 784).float() / 255
    grey_test = torch.from_numpy(arrays["x_test"]).reshape(-1, 784).float() / 255
    x_test = torch.bernoulli(grey_test, generator=torch.Generator().manual_seed(args.seed))
    model = BurdaVAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-4)
    n, batch = len(grey_train), 20
    steps = math.ceil(n / batch)
    start = time.perf_counter()
    for epoch in range(args.epochs):
        x_train = torch.bernoulli(grey_train)
        perm = torch.randperm(n)
        for i in range(steps):
            for group in optimizer.param_groups:
                group["lr"] = 1e-3 * lr_factor((epoch + i / steps) / args.epochs)
            loss = -model.elbo(x_train[perm[i * batch : (i + 1) * batch]]).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if (epoch + 1) % 10 == 0 or epoch + 1 == args.epochs:
            with torch.no_grad():
                test = -model.elbo(x_test).mean()
            print(
                f"epoch {epoch + 1}: test -ELBO {test:.2f} ({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
    with torch.no_grad():
        nelbo = -torch.cat(
            [model.elbo(x_test[i : i + 1000]) for i in range(0, len(x_test), 1000)]
        ).mean()
        iw = -torch.cat(
            [
                model.iw_log_px(x_test[i : i + 100], args.iw_samples)
                for i in range(0, len(x_test), 100)
            ]
        ).mean()
    print(
        f"bare loop, {args.epochs} epochs: test negative ELBO {nelbo:.2f}, "
        f"IW -log p(x) (K={args.iw_samples}) {iw:.2f} nats"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
