"""The pictures and numbers of docs/choosing_terms.md: each likelihood and divergence on digits.

Every run is the same VAE on scikit-learn's bundled digits (same split, seed, networks, epochs);
only the named term changes. It writes ``docs/images/choosing_likelihoods.png`` and
``docs/images/choosing_divergences.png`` and prints the Markdown tables of the page. About five
minutes on one CPU core::

    OMP_NUM_THREADS=1 python docs/scripts/choosing_terms.py [--epochs 60] [--runs runs/choosing]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch
from torchvision.utils import make_grid

from genkit_core.cli import main as genkit
from genkit_core.report.latent import project_2d
from genkit_core.report.view import RunView, open_run
from genkit_core.training import Trainer

IMAGES = Path(__file__).resolve().parents[1] / "images"
BASE: dict[str, Any] = {
    "model": "vae",
    "latent_dim": 4,
    "data": {"type": "digits"},
    "encoder": {"type": "mlp", "hidden": [256, 128]},
    "decoder": {"type": "mlp", "hidden": [128, 256]},
    "likelihood": {"type": "bernoulli"},
    "train": {"batch_size": 64, "lr": 1e-3, "seed": 0, "device": "cpu", "progress": False},
}
LIKELIHOODS: dict[str, dict[str, Any]] = {
    "mse": {"type": "mse"},
    "bernoulli": {"type": "bernoulli"},
    "gaussian": {"type": "gaussian"},
    "gaussian, shared variance": {"type": "gaussian", "variance": "shared"},
    "laplace": {"type": "laplace"},
    "discretized_logistic": {"type": "discretized_logistic"},
    "categorical256": {"type": "categorical256"},
}
DIVERGENCES: dict[str, dict[str, Any]] = {
    "gaussian_kl": {"type": "gaussian_kl"},
    "mc_kl": {"type": "mc_kl"},
    "gaussian_kl, beta 2": {"type": "gaussian_kl", "beta": 2.0},
    "gaussian_kl, free bits 0.5": {"type": "gaussian_kl", "free_bits": 0.5},
    "mmd": {"type": "mmd"},
}


def train(name: str, spec: dict[str, Any], runs: Path) -> tuple[RunView, dict[str, Any]]:
    """Train one run (or reuse a finished one) and evaluate it on the test split."""
    run_dir = runs / name.replace(", ", "_").replace(" ", "_")
    timing = run_dir / "cpu_seconds.txt"
    if not timing.is_file():
        started = time.process_time()
        Trainer(spec, run_dir, overwrite=True, stream=None).fit()
        timing.write_text(f"{time.process_time() - started:.1f}\n")
    seconds = float(timing.read_text())
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        genkit(["eval", str(run_dir), "--json", "--iw-samples", "0", "--device", "cpu"])
    return open_run(run_dir), {**json.loads(out.getvalue()), "cpu_seconds": seconds}


def strip(images: torch.Tensor, nrow: int = 8) -> torch.Tensor:
    """``(N, C, H, W)`` in [0, 1] as one ``(H', W', 3)`` picture."""
    grid = make_grid(images.clamp(0, 1).expand(-1, 3, -1, -1), nrow=nrow, padding=1, pad_value=1)
    return grid.permute(1, 2, 0)


@torch.no_grad()
def pictures(view: RunView) -> dict[str, torch.Tensor]:
    """Reconstructions, samples (the likelihood's mean) and draws from p(x|z) at the same z."""
    x = view.test_x[:8]
    model = view.model
    torch.manual_seed(0)
    z = model.prior.sample(16)
    params = model.decode(z)
    return {
        "test images (top), their reconstructions": strip(torch.cat([x, model.reconstruct(x)])),
        "samples: the mean of p(x|z), z ~ p(z)": strip(model.likelihood.mean(params)),
        "draws x ~ p(x|z) at the same z": strip(model.likelihood.sample(params)),
    }


def likelihood_figure(views: dict[str, RunView], path: Path) -> None:
    columns = list(pictures(next(iter(views.values()))))
    fig, axes = plt.subplots(len(views), 3, figsize=(15, 1.45 * len(views)), squeeze=False)
    for row, (name, view) in enumerate(views.items()):
        for col, image in enumerate(pictures(view).values()):
            ax = axes[row][col]
            ax.imshow(image.numpy(), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(columns[col], fontsize=10)
        axes[row][0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def divergence_figure(views: dict[str, RunView], path: Path) -> None:
    fig, axes = plt.subplots(2, len(views), figsize=(3.3 * len(views), 6.6), squeeze=False)
    for col, (name, view) in enumerate(views.items()):
        projection = project_2d(view.codes(view.test_x, None))
        ax = axes[0][col]
        points = projection.points.numpy()
        ax.scatter(points[:, 0], points[:, 1], c=view.test_y.numpy(), cmap="tab10", s=4)
        ax.set_title(name, fontsize=10)
        ax.set_xlim(-4, 4)
        ax.set_ylim(-4, 4)
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
        torch.manual_seed(0)
        samples = view.model.sample(36)
        axes[1][col].imshow(strip(samples, nrow=6).numpy(), interpolation="nearest")
        axes[1][col].set_xticks([])
        axes[1][col].set_yticks([])
    axes[0][0].set_ylabel("test codes (posterior means),\ncoloured by digit", fontsize=9)
    axes[1][0].set_ylabel("samples, z ~ N(0, I)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def table(rows: dict[str, dict[str, Any]], first: str) -> str:
    lines = [
        f"| {first} | reconstruction | KL | negative ELBO | active units | CPU s |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| `{name}` | {r['reconstruction']:.2f} | {r['kl']:.2f} | {r['negative_elbo']:.2f} "
            f"| {r['active_units']} of {r['latent_dim']} | {r['cpu_seconds']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--runs", type=Path, default=Path("runs/choosing_terms"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    base = {**BASE, "train": {**BASE["train"], "epochs": args.epochs}}

    views, numbers = {}, {}
    for name, likelihood in LIKELIHOODS.items():
        spec = {**base, "likelihood": likelihood}
        views[name], numbers[name] = train(f"lik_{name}", spec, args.runs)
    likelihood_figure(views, IMAGES / "choosing_likelihoods.png")
    print(table(numbers, "likelihood"), end="\n\n")

    views, numbers = {}, {}
    flat = {**base, "latent_dim": 2}
    for name, divergence in DIVERGENCES.items():
        spec = {**flat, "divergence": divergence}
        views[name], numbers[name] = train(f"div_{name}", spec, args.runs)
    divergence_figure(views, IMAGES / "choosing_divergences.png")
    print(table(numbers, "divergence"))


if __name__ == "__main__":
    main()
