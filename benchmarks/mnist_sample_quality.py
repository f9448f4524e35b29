"""Sample quality of trained MNIST runs, measured here: a Frechet distance in the feature space
of an MNIST classifier (the FID's recipe with a LeNet instead of Inception), and, for a codebook
model with an autoregressive prior, the bound on -log p(x) that its discrete codes give.

The RAE and WAE papers report FID on MNIST with Inception features, which need the Inception
network's weights; this machine has none and no network. A classifier trained on MNIST itself
is the usual stand-in for digits ("FID with LeNet features"): its penultimate layer (128
numbers) separates what matters for digits, and the distance between the Gaussians fitted to
two sets of features, ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))``, is computed
exactly as the FID's. Both are genkit's own: the ``digit_classifier`` feature extractor (trained
once, cached under ``$GENKIT_CACHE``) and ``frechet_distance``, which ``genkit eval RUN
--metric fd`` uses too (docs/evaluation.md); this script adds the ex-post densities and the
VQ-VAE's bound. Its values are on another scale than Inception FIDs: compare them only
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
from mnist_data import DEFAULT_DATA, load_mnist, synthetic

from genkit_core.data import as_float, load_data
from genkit_core.interfaces import DataBundle, DataInfo, MetricData, Split
from genkit_core.run import load_run
from genkit_plugins.features import DigitClassifier, DigitClassifierParams
from genkit_plugins.metrics import frechet_distance as frechet


def classifier(data: dict[str, np.ndarray], steps: int, cache: bool) -> DigitClassifier:
    """genkit's ``digit_classifier`` feature extractor, trained on the training images (or read
    from genkit's cache, ``$GENKIT_CACHE/features``).
    """
    images = {k: torch.from_numpy(v) for k, v in data.items()}
    bundle = DataBundle(
        Split(images["x_train"].view(-1, 1, 28, 28), images["y_train"].long()),
        Split(images["x_test"].view(-1, 1, 28, 28), images["y_test"].long()),
        DataInfo((1, 28, 28), num_classes=10, name="mnist"),
    )
    net = DigitClassifier(DigitClassifierParams(steps=steps, cache=cache))
    net.prepare(MetricData("mnist", lambda: bundle))
    return net


def features(net: DigitClassifier, images: torch.Tensor) -> np.ndarray:
    """``(N, 128)`` features of ``(N, 1, 28, 28)`` images in [0, 1], in batches."""
    return torch.cat([net(b) for b in images.split(1000)]).double().numpy()


def _images(x: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(x, dtype=torch.float32).div(255).view(-1, 1, 28, 28)


@torch.no_grad()
def measure(run: Path, net: DigitClassifier, reference: np.ndarray, n: int) -> dict[str, Any]:
    """Every figure of one run (see the module's docstring)."""
    torch.manual_seed(0)
    model = load_run(run)
    data = load_data(model.spec)
    test = as_float(torch.as_tensor(np.asarray(data.test.x[:n])))
    train = as_float(torch.as_tensor(np.asarray(data.train.x)))
    as_images = lambda x: x.reshape(-1, 1, 28, 28).clamp(0, 1)  # noqa: E731
    score = lambda x: frechet(features(net, as_images(x)), reference)  # noqa: E731
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
    parser.add_argument("--steps", type=int, default=1000, help="classifier training steps")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--smoke", action="store_true", help="random data, a tiny run")
    args = parser.parse_args()
    runs, n, steps = args.runs, args.n, args.steps
    if args.smoke:
        folder = Path(tempfile.mkdtemp(prefix="genkit-smoke-"))
        data, runs, n, steps = synthetic(64, 32), [_smoke_run(folder)], 16, 2
    else:
        data = load_mnist(args.data)
    started = time.perf_counter()
    net = classifier(data, steps, cache=not args.smoke)
    test_features = features(net, _images(data["x_test"][:n]))
    reference = features(net, _images(data["x_train"][:n]))
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
