"""Seconds per epoch of genkit against a plain PyTorch loop (and Pythae, if installed).

The model (benchmarks/specs/vae_mnist_mlp.yaml): MNIST, MLP 784-512-16, sigmoid decoder with the
loss 0.5 * sum of squared errors + KL, Adam 1e-3, batch 128. Every contender trains the same
model on the same data in this one process; contenders are interleaved over several rounds
and the reported ratio is the median of per-round ratios, so the machine's drift cancels.

    python benchmarks/train_speed.py --device cpu            # the CPU figures
    python benchmarks/train_speed.py --device cuda --batch-size 1024
    python benchmarks/train_speed.py --smoke                 # CI: one tiny epoch, no timing claims

Contenders:
  plain        a hand-written loop, data in one tensor, torch.optim.Adam with its defaults
  plain-fused  the same loop with Adam(fused=True), as an expert might write it
  plain-graph  (CUDA) the plain step captured once as a CUDA graph and replayed
  genkit       genkit's Trainer from the spec (timed: its training loop; 'wall' adds the
               per-epoch work genkit does besides: weights, checkpoint and pictures)
  pythae       Pythae's TrainingPipeline with its default MLP VAE (if pythae is installed)
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from mnist_data import DEFAULT_DATA, load_mnist, synthetic
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "benchmarks" / "specs" / "vae_mnist_mlp.yaml"


@dataclass
class Result:
    """Per-epoch seconds and the final test loss of one contender."""

    name: str
    epochs: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    test_loss: float = float("nan")


# --- the plain loop ------------------------------------------------------------------------


class PlainVAE(nn.Module):
    """784-512-16 MLP VAE, written by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 32))
        self.decoder = nn.Sequential(nn.Linear(16, 512), nn.ReLU(), nn.Linear(512, 784))

    def loss(self, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        z = mu + torch.exp(0.5 * logvar) * eps
        recon = torch.sigmoid(self.decoder(z))
        sse = 0.5 * (recon - x).pow(2).sum()
        kl = 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum()
        return (sse + kl) / x.shape[0]


def plain_contender(
    name: str,
    data: dict[str, np.ndarray],
    device: torch.device,
    batch: int,
    fused: bool,
    graph: bool,
):
    """A hand-written training loop, epoch by epoch (a generator of seconds per epoch)."""
    torch.manual_seed(0)
    x_train = torch.from_numpy(data["x_train"]).to(device).reshape(-1, 784).float() / 255
    model = PlainVAE().to(device)
    optimizer = torch.optim.Adam(model.parameters(), 1e-3, fused=fused or None, capturable=graph)
    n = len(x_train)
    step = _captured_step(model, optimizer, batch, device) if graph else None
    while True:
        _sync(device)
        start = time.perf_counter()
        perm = torch.randperm(n, device=device)
        for i in range(0, n, batch):
            x = x_train[perm[i : i + batch]]
            if step is not None and len(x) == batch:
                step(x)
                continue
            loss = model.loss(x, torch.randn(len(x), 16, device=device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        _sync(device)
        yield time.perf_counter() - start, model


def _captured_step(
    model: PlainVAE, optimizer: torch.optim.Optimizer, batch: int, device: torch.device
):
    """The plain step captured once as a CUDA graph (PyTorch's whole-network capture recipe)."""
    static_x = torch.zeros(batch, 784, device=device)
    static_eps = torch.zeros(batch, 16, device=device)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            optimizer.zero_grad(set_to_none=True)
            model.loss(static_x, static_eps).backward()
            optimizer.step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    optimizer.zero_grad(set_to_none=True)
    with torch.cuda.graph(graph):
        model.loss(static_x, static_eps).backward()
        optimizer.step()

    def step(x: torch.Tensor) -> None:
        static_x.copy_(x)
        static_eps.normal_()
        graph.replay()

    return step


@torch.no_grad()
def plain_test_loss(model: PlainVAE, data: dict[str, np.ndarray], device: torch.device) -> float:
    torch.manual_seed(1)
    x = torch.from_numpy(data["x_test"]).to(device).reshape(-1, 784).float() / 255
    return sum(
        float(model.loss(x[i : i + 1000], torch.randn(len(x[i : i + 1000]), 16, device=device)))
        * len(x[i : i + 1000])
        for i in range(0, len(x), 1000)
    ) / len(x)


# --- genkit --------------------------------------------------------------------------------


def genkit_contender(
    data_file: Path, device: torch.device, batch: int, epochs: int, workdir: Path
) -> Result:
    """genkit's Trainer from the spec; per-epoch seconds from metrics.csv."""
    from genkit_core.training import Trainer

    overrides = [
        f"data.path={data_file}",
        f"train.device={device.type}",
        f"train.batch_size={batch}",
        f"train.epochs={epochs}",
        "logging=[{type: csv}]",
    ]
    run_dir = Path(tempfile.mkdtemp(dir=workdir))
    start = time.perf_counter()
    result = Trainer(SPEC, run_dir, overrides=overrides, overwrite=True, stream=None).fit()
    wall = time.perf_counter() - start
    rows = list(csv.DictReader((run_dir / "metrics.csv").open()))
    out = Result("genkit", [float(r["seconds"]) for r in rows])
    out.wall = [wall / epochs] * epochs
    out.test_loss = result.metrics["test_loss"]
    return out


# --- Pythae --------------------------------------------------------------------------------


def pythae_contender(
    data: dict[str, np.ndarray], device: torch.device, batch: int, epochs: int, workdir: Path
) -> Result | None:
    try:
        from pythae.models import VAE, VAEConfig
        from pythae.models.nn.default_architectures import Decoder_AE_MLP, Encoder_VAE_MLP
        from pythae.pipelines import TrainingPipeline
        from pythae.trainers import BaseTrainerConfig
    except ImportError:
        return None
    torch.manual_seed(0)
    model_config = VAEConfig(input_dim=(1, 28, 28), latent_dim=16, reconstruction_loss="mse")
    model = VAE(model_config, Encoder_VAE_MLP(model_config), Decoder_AE_MLP(model_config))
    config = BaseTrainerConfig(
        output_dir=str(workdir / "pythae"), learning_rate=1e-3, num_epochs=epochs,
        per_device_train_batch_size=batch, per_device_eval_batch_size=1000,
        no_cuda=device.type != "cuda", optimizer_cls="Adam", steps_saving=None,
    )  # fmt: skip
    x_train = data["x_train"].reshape(-1, 1, 28, 28).astype(np.float32) / 255
    x_test = data["x_test"].reshape(-1, 1, 28, 28).astype(np.float32) / 255
    pipeline = TrainingPipeline(training_config=config, model=model)
    start = time.perf_counter()
    pipeline(train_data=x_train, eval_data=x_test)
    seconds = (time.perf_counter() - start) / epochs
    out = Result("pythae", [seconds] * epochs, [seconds] * epochs)
    with torch.no_grad():
        x = torch.from_numpy(x_test).to(next(model.parameters()).device)
        out.test_loss = float(model({"data": x}).loss)
    return out


# --- running and reporting -----------------------------------------------------------------


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run(args: argparse.Namespace) -> dict[str, Result]:
    device = torch.device(args.device)
    workdir = Path(tempfile.mkdtemp(prefix="genkit-bench-"))
    data = synthetic(512, 256) if args.smoke else load_mnist(args.data, args.limit)
    data_file = workdir / "data.npz"
    np.savez(data_file, **data)
    results: dict[str, Result] = {}
    plain_names = [("plain", False, False), ("plain-fused", True, False)]
    if device.type == "cuda":
        plain_names.append(("plain-graph", True, True))
    loops = {
        name: plain_contender(name, data, device, args.batch_size, fused, graph)
        for name, fused, graph in plain_names
    }
    models: dict[str, PlainVAE] = {}
    for round_ in range(args.rounds):
        for name, loop in loops.items():
            for _ in range(args.epochs):
                seconds, models[name] = next(loop)
                results.setdefault(name, Result(name)).epochs.append(seconds)
        genkit = genkit_contender(data_file, device, args.batch_size, args.epochs, workdir)
        stored = results.setdefault("genkit", Result("genkit"))
        stored.epochs += genkit.epochs
        stored.wall += genkit.wall
        stored.test_loss = genkit.test_loss
        print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    for name, model in models.items():
        results[name].test_loss = plain_test_loss(model, data, device)
    if not args.no_pythae:
        pythae = pythae_contender(data, device, args.batch_size, args.epochs, workdir)
        if pythae is not None:
            results["pythae"] = pythae
    return results


def report(results: dict[str, Result], args: argparse.Namespace) -> str:
    base = results["plain"]
    per_round = args.epochs

    def median_ratio(name: str) -> float:
        ours, theirs = results[name].epochs, base.epochs
        pairs = list(zip(ours, theirs, strict=False))
        if name == "pythae":
            return statistics.median(ours) / statistics.median(theirs)
        return statistics.median(a / b for a, b in pairs)

    lines = [
        f"device {args.device}, batch {args.batch_size}, {args.rounds} rounds x {per_round} "
        f"epochs, {torch.get_num_threads()} threads, torch {torch.__version__}",
        "| contender | s/epoch (median) | ratio to plain (median of rounds) | test loss |",
        "|---|---|---|---|",
    ]
    for name, result in results.items():
        lines.append(
            f"| {name} | {statistics.median(result.epochs):.3f} | {median_ratio(name):.3f} "
            f"| {result.test_loss:.2f} |"
        )
    genkit = results.get("genkit")
    if genkit and genkit.wall:
        wall = statistics.median(genkit.wall)
        lines.append(
            "| genkit, wall per epoch incl. its checkpoint, weights and pictures | "
            f"{wall:.3f} | {wall / statistics.median(base.epochs):.3f} | |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per contender per round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="an mnist.npz (Keras layout)"
    )
    parser.add_argument("--limit", type=int, help="use only the first N training images")
    parser.add_argument("--no-pythae", action="store_true", help="skip Pythae even if installed")
    parser.add_argument("--json", type=Path, help="also write the raw timings here")
    parser.add_argument(
        "--smoke", action="store_true", help="tiny synthetic data, one epoch, one round (CI)"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.epochs, args.rounds, args.no_pythae = 1, 1, True
    elif not args.data.is_file():
        parser.error(f"{args.data} not found; pass --data PATH to an mnist.npz, or --smoke")
    results = run(args)
    print(report(results, args))
    if args.json:
        args.json.write_text(json.dumps({k: vars(v) for k, v in results.items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
