"""Why the VampPrior starts slowly: its first epochs against priors that differ in one feature.

Each arm trains ``examples/zoo/vamp_vae_mnist.yaml`` with the zoo's compressed command (KL
warm-up of 300 steps, seed 0, one thread) for ``--epochs`` epochs and prints each epoch's
training loss and KL:

- ``vamp``: the spec as it is (500 grey pseudo-inputs, 0.5 + N(0, 0.1^2));
- ``vamp, data init``: the pseudo-inputs start as 500 random training images (a patch of the
  prior's ``bind`` for this experiment, not a spec option);
- ``standard normal, MC KL``: N(0, I), its KL estimated by Monte Carlo as the VampPrior's is;
- ``mixture of 500``: a learned mixture of 500 Gaussians, not tied to the encoder;
- ``vamp, encoder detached in the prior``: the VampPrior whose components are computed with the
  encoder's weights detached, so the KL's gradient reaches the encoder only through q(z|x)
  and the prior learns only through its pseudo-inputs (a patch, not a spec option).

    python benchmarks/vamp_start.py --epochs 3          # the list in docs/zoo.md
    python benchmarks/vamp_start.py --smoke             # CI: random images, a few steps
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from mnist_data import DEFAULT_DATA, load_mnist, synthetic

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "examples" / "zoo" / "vamp_vae_mnist.yaml"
ARMS: dict[str, list[str]] = {
    "vamp": [],
    "vamp, data init": [],
    "standard normal, MC KL": [
        "prior={type: standard_normal}",
        "divergence.estimator=monte_carlo",
    ],
    "mixture of 500": ["prior={type: mixture, components: 500}"],
    "vamp, encoder detached in the prior": [],
}


def init_from_data(images: torch.Tensor) -> None:
    """Make every VampPrior built from now on start its pseudo-inputs at ``images``."""
    from genkit_plugins.priors import vamp

    bind = vamp.VampPrior.bind

    def bind_then_copy(self: vamp.VampPrior, model: object, components: object = None) -> None:
        bind(self, model, components)  # type: ignore[arg-type]
        assert self.pseudo_inputs is not None
        if self.pseudo_inputs.device.type != "meta":
            with torch.no_grad():
                self.pseudo_inputs.copy_(images[: self.params.components])

    vamp.VampPrior.bind = bind_then_copy  # type: ignore[method-assign]


def detach_encoder_in_prior() -> None:
    """Make every VampPrior compute its components with the rest of the model's weights
    detached: the pseudo-inputs still learn, the encoder no longer learns through the prior."""
    from torch.nn.utils.stateless import _reparametrize_module

    from genkit_plugins.priors import vamp

    distribution = vamp.VampPrior.distribution

    def detached(self: vamp.VampPrior) -> torch.distributions.Distribution:
        model = self._posterior.__self__  # type: ignore[union-attr]  # model.posterior_of
        frozen = {n: p.detach() for n, p in model.named_parameters() if not n.startswith("prior.")}
        with _reparametrize_module(model, frozen):
            return distribution(self)

    vamp.VampPrior.distribution = detached  # type: ignore[method-assign]


def train(arm: str, data: Path, epochs: int, extra: list[str]) -> list[dict[str, str]]:
    """Train one arm in this process; its metrics.csv rows."""
    from genkit_core.training import Trainer

    run = Path(tempfile.mkdtemp(prefix="genkit-vamp-"))
    overrides = [
        f"data={{type: tensor_file, path: {data}, flatten: true, binarize: dynamic}}",
        f"train.epochs={epochs}",
        "divergence.anneal.steps=300",
        "train.progress=false",
        "train.eval_every=1000000",
        "train.threads=1",
        *extra,  # before the arm's: an arm's prior replaces the whole section
        *ARMS[arm],
    ]
    Trainer(SPEC, run, overwrite=True, overrides=overrides, stream=None).fit()
    with (run / "metrics.csv").open() as f:
        return list(csv.DictReader(f))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="an mnist.npz")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--arm", choices=list(ARMS), help="one arm (each runs in its process)")
    parser.add_argument("--arms", nargs="+", choices=list(ARMS), default=list(ARMS))
    parser.add_argument("--smoke", action="store_true", help="random images, a few steps (CI)")
    args = parser.parse_args()
    extra: list[str] = []
    if args.smoke:
        arrays, args.epochs = synthetic(200, 20), 1
        extra = ["prior.components=20", "train.batch_size=50"]
    elif not args.data.is_file():
        parser.error(f"{args.data} not found; pass --data PATH to an mnist.npz, or --smoke")
    else:
        arrays = load_mnist(args.data)
    data = Path(tempfile.mkdtemp(prefix="genkit-vamp-")) / "mnist.npz"
    np.savez(data, **arrays)
    if args.arm is None:  # every arm in a fresh process: the data-init patch stays in its own
        import subprocess

        print("| prior | training loss, epoch by epoch | KL, epoch by epoch |")
        print("|---|---|---|", flush=True)
        for arm in args.arms:
            command = [sys.executable, __file__, "--data", str(args.data), "--arm", arm]
            command += ["--epochs", str(args.epochs)] + (["--smoke"] if args.smoke else [])
            subprocess.run(command, check=True)
        return 0
    if args.arm == "vamp, data init":
        rng = np.random.default_rng(0)
        n = min(500, len(arrays["x_train"]))
        chosen = arrays["x_train"][rng.choice(len(arrays["x_train"]), n, replace=False)]
        init_from_data(torch.from_numpy(chosen.reshape(n, -1) / 255.0).float())
    if args.arm == "vamp, encoder detached in the prior":
        detach_encoder_in_prior()
    rows = train(args.arm, data, args.epochs, extra)
    losses = ", ".join(f"{float(r['train_loss']):.3f}" for r in rows)
    kls = ", ".join(f"{float(r['train_divergence']):.2f}" for r in rows)
    print(f"| {args.arm} | {losses} | {kls} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
