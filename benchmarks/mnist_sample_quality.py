"""Sample quality of trained MNIST runs, measured here: a Frechet distance in the feature space
of an MNIST classifier (the FID's recipe with a LeNet instead of Inception), and, for a codebook
model with an autoregressive prior, the bound on -log p(x) that its discrete codes give.

The RAE and WAE papers report FID on MNIST with Inception features, which need the Inception
network's weights; this machine has none and no network. A classifier trained on MNIST itself
is the usual stand-in for digits ("FID with LeNet features"): its penultimate layer (128
numbers) separates what matters for digits, and the distance between the Gaussians fitted to
two sets of features, ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))``, is computed
exactly as the FID's. Its values are on another scale than Inception FIDs: compare them only
with each other, and with the floor, the distance between 10,000 test and 10,000 train images.

For each run it reports, as the RAE paper's Table 1 does: ``rec`` (test reconstructions),
``prior`` (draws from the run's own prior: N(0, I) for a VAE or WAE, the fitted density for
an RAE, the PixelCNN for a VQ-VAE), ``gaussian`` and ``gmm10`` (draws from a full Gaussian and
a 10-component mixture fitted to the training codes: the paper's ex-post densities, for flat
latents). Images are the likelihood's means. For a VQ-VAE it adds ``code_nll``, the prior's
-log p(k) of the test codes, and ``nll_bound`` = reconstruction + code_nll: with a one-hot
q(k|x), log p(x) >= log p(x|k(x)) + log p(k(x)), a bound on the test NLL in nats.

    python benchmarks/mnist_sample_quality.py RUN [RUN ...] --n 5000 --json out.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from mnist_data import DEFAULT_DATA, load_mnist, synthetic
from safetensors.torch import load_file, save_file
from scipy import linalg
from torch import nn

from genkit_core.data import as_float, load_data
from genkit_core.run import load_run


class Classifier(nn.Module):
    """Two 3x3 convolutions with max-pooling, a 128-unit layer (the features), 10 logits."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Linear(128, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> np.ndarray:
        """``(N, 128)`` features of ``(N, 1, 28, 28)`` images in [0, 1], in batches."""
        self.eval()
        return torch.cat([self.body(b) for b in images.split(1000)]).double().numpy()


def _images(x: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(x, dtype=torch.float32).div(255).view(-1, 1, 28, 28)


def classifier(data: dict[str, np.ndarray], cache: Path | None, epochs: int) -> Classifier:
    """The classifier, trained on the training images (or read from ``cache``)."""
    net = Classifier()
    if cache is not None and cache.is_file():
        net.load_state_dict(load_file(cache))
        return net
    torch.manual_seed(0)
    x, y = _images(data["x_train"]), torch.as_tensor(data["y_train"]).long()
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(epochs):
        for batch in torch.randperm(len(x)).split(128):
            loss = F.cross_entropy(net(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        predicted = net.eval()(_images(data["x_test"])).argmax(1).numpy()
    print(f"classifier test accuracy: {(predicted == data['y_test']).mean():.4f}", file=sys.stderr)
    if cache is not None:
        save_file(net.state_dict(), cache)
    return net


def frechet(a: np.ndarray, b: np.ndarray) -> float:
    """The Frechet distance between Gaussians fitted to two ``(N, D)`` feature sets."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = linalg.sqrtm(s_a @ s_b)
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2 * root.real))


@torch.no_grad()
def measure(run: Path, net: Classifier, reference: np.ndarray, n: int) -> dict[str, Any]:
    """Every figure of one run (see the module's docstring)."""
    torch.manual_seed(0)
    model = load_run(run)
    data = load_data(model.spec)
    test = as_float(torch.as_tensor(np.asarray(data.test.x[:n])))
    train = as_float(torch.as_tensor(np.asarray(data.train.x)))
    as_images = lambda x: x.reshape(-1, 1, 28, 28).clamp(0, 1)  # noqa: E731
    score = lambda x: frechet(net.features(as_images(x)), reference)  # noqa: E731
    out: dict[str, Any] = {"run": str(run), "rec": score(model.reconstruct(test))}
    if model.can_sample:
        out["prior"] = score(model.sample(n))
    codes = torch.cat([model.encode(b) for b in train.split(1000)])
    if len(model.posterior.latent_shape) == 1:
        from sklearn.mixture import GaussianMixture

        for name, k in (("gaussian", 1), ("gmm10", 10)):
            gmm = GaussianMixture(k, covariance_type="full", random_state=0)
            z = gmm.fit(codes.double().numpy()).sample(n)[0]
            out[name] = score(model.likelihood.mean(model.decode(torch.as_tensor(z).float())))
    if hasattr(model.posterior, "indices") and model.prior is not None:
        test_codes = torch.cat([model.encode(b) for b in test.split(1000)])
        recon = torch.cat([-model.log_likelihood(b, model.encode(b)) for b in test.split(1000)])
        code_nll = -model.prior.log_prob(test_codes)
        cells = math.prod(model.posterior.latent_shape[1:])
        out.update(
            reconstruction=float(recon.mean()),
            code_nll=float(code_nll.mean()),
            nll_bound=float((recon + code_nll).mean()),
            uniform_code_nll=cells * math.log(model.posterior.num_codes),
        )
    return out


def _smoke_run(folder: Path) -> Path:
    """A tiny autoencoder trained for one epoch on random 28x28 images."""
    from genkit_core.training import Trainer

    arrays = synthetic(64, 32)
    np.savez(folder / "mnist.npz", **arrays)
    spec = {
        "model": "ae", "latent_dim": 2,
        "data": {"type": "tensor_file", "path": str(folder / "mnist.npz")},
        "encoder": {"type": "mlp", "hidden": [8]}, "decoder": {"type": "mlp", "hidden": [8]},
        "likelihood": {"type": "bernoulli"}, "prior": {"type": "code_gmm", "components": 2},
        "train": {"epochs": 1, "batch_size": 32, "device": "cpu", "progress": False},
    }  # fmt: skip
    Trainer(spec, folder / "run", stream=None).fit()
    return folder / "run"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="*", type=Path, help="run directories of MNIST models")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="an mnist.npz")
    parser.add_argument("--n", type=int, default=5000, help="images per set (default 5000)")
    parser.add_argument("--classifier", type=Path, help="cache of the classifier's weights")
    parser.add_argument("--epochs", type=int, default=2, help="classifier training epochs")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--smoke", action="store_true", help="random data, a tiny run")
    args = parser.parse_args()
    runs, n, epochs = args.runs, args.n, args.epochs
    if args.smoke:
        folder = Path(tempfile.mkdtemp(prefix="genkit-smoke-"))
        data, runs, n, epochs = synthetic(64, 32), [_smoke_run(folder)], 16, 1
    else:
        data = load_mnist(args.data)
    started = time.perf_counter()
    net = classifier(data, None if args.smoke else args.classifier, epochs)
    test_features = net.features(_images(data["x_test"][:n]))
    reference = net.features(_images(data["x_train"][:n]))
    floor = frechet(test_features, reference)
    results = [{"run": "test vs train images (the floor)", "rec": floor}]
    results += [measure(run, net, test_features, n) for run in runs]
    columns = ["rec", "prior", "gaussian", "gmm10", "code_nll", "nll_bound"]
    print("| run | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for r in results:
        cells = [f"{r[c]:.2f}" if c in r else "" for c in columns]
        print(f"| {r['run']} | " + " | ".join(cells) + " |")
    print(f"({n} images per set, {time.perf_counter() - started:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
