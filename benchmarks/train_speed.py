"""Seconds per epoch of genkit against a plain PyTorch loop (and Pythae, if installed).

The model (benchmarks/specs/vae_mnist_mlp.yaml): MNIST, MLP 784-512-16, sigmoid decoder with the
loss 0.5 * sum of squared errors + KL, Adam 1e-3, batch 128. Every contender trains the same
model on the same data in this one process, with the same number of intra-op threads.
Contenders are interleaved over several rounds and the reported ratio is the median of per-round
ratios, so the machine's drift cancels.

Equal work is checked, not assumed: in round r every contender starts from a fresh model seeded
with r (PyTorch's default initialisation of each linear layer, checked) and trains the same
number of epochs, so the same number of optimiser steps (checked), on the same arrays (checked).
The test losses after those epochs are reported side by side with their spread over the seeds
(the seed noise); the script fails when genkit's differ from the plain loop's by more than that
noise explains (Welch's t-test, p < 0.001).

    python benchmarks/train_speed.py --device cpu            # the CPU figures
    python benchmarks/train_speed.py --device cuda --batch-size 1024
    python benchmarks/train_speed.py --smoke                 # CI: tiny data, 2 seeds

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
import json
import math
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from mnist_data import DEFAULT_DATA, load_mnist, synthetic
from scipy import stats
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "benchmarks" / "specs" / "vae_mnist_mlp.yaml"
SAME_LOSS_P = 1e-3
"""The p-value of Welch's t-test below which two contenders' test losses differ beyond noise."""


@dataclass
class Result:
    """Per-epoch seconds, and per seed the test loss and optimiser steps, of one contender."""

    name: str
    epochs: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    test_losses: list[float] = field(default_factory=list)
    steps: list[int] = field(default_factory=list)
    setup: list[float] = field(default_factory=list)


class UnequalWork(SystemExit):
    """The contenders did not do the same work, or did not reach the same loss."""

    def __init__(self, message: str):
        super().__init__(f"train_speed.py: UNEQUAL: {message}")


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
    epochs: int,
    seed: int,
    fused: bool,
    graph: bool,
) -> Result:
    """A hand-written training loop from a fresh model seeded with ``seed``."""
    torch.manual_seed(seed)
    x_train = _flat(data["x_train"], device)
    model = PlainVAE().to(device)
    check_default_init(model, name)
    optimizer = torch.optim.Adam(model.parameters(), 1e-3, fused=fused or None, capturable=graph)
    n = len(x_train)
    step = _captured_step(model, optimizer, batch, device) if graph else None
    out, steps = Result(name), 0
    for _ in range(epochs):
        _sync(device)
        start = time.perf_counter()
        perm = torch.randperm(n, device=device)
        for i in range(0, n, batch):
            x = x_train[perm[i : i + batch]]
            steps += 1
            if step is not None and len(x) == batch:
                step(x)
                continue
            loss = model.loss(x, torch.randn(len(x), 16, device=device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        _sync(device)
        out.epochs.append(time.perf_counter() - start)
    out.wall = list(out.epochs)
    out.test_losses.append(plain_test_loss(model, data, device))
    out.steps.append(steps)
    return out


def _flat(x: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(x).to(device).reshape(len(x), -1).float() / 255


def _captured_step(
    model: PlainVAE, optimizer: torch.optim.Optimizer, batch: int, device: torch.device
):
    """The plain step captured once as a CUDA graph (PyTorch's whole-network capture recipe).

    Capturing takes real steps (three warm-ups and the captured one); the weights and the
    optimiser's state are put back afterwards, in place, so training starts from the fresh model
    like every other contender's.
    """
    fresh = [p.detach().clone() for p in model.parameters()]
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
    with torch.no_grad():  # the optimiser's state was empty: zeros are its fresh state
        for p, value in zip(model.parameters(), fresh, strict=True):
            p.copy_(value)
        for state in optimizer.state.values():
            for t in state.values():
                if isinstance(t, torch.Tensor):
                    t.zero_()

    def step(x: torch.Tensor) -> None:
        static_x.copy_(x)
        static_eps.normal_()
        graph.replay()

    return step


@torch.no_grad()
def plain_test_loss(model: PlainVAE, data: dict[str, np.ndarray], device: torch.device) -> float:
    """Per example, 0.5 x SSE + KL with one noise draw per example: genkit's test_loss."""
    torch.manual_seed(1)
    x = _flat(data["x_test"], device)
    total = 0.0
    for i in range(0, len(x), 1000):
        chunk = x[i : i + 1000]
        total += float(model.loss(chunk, torch.randn(len(chunk), 16, device=device))) * len(chunk)
    return total / len(x)


# --- equal work ----------------------------------------------------------------------------


def check_default_init(model: nn.Module, name: str) -> list[tuple[int, int]]:
    """Check each linear layer holds PyTorch's default initialisation, U(-1/sqrt(fan_in),
    1/sqrt(fan_in)) for weights and biases; return the layers' (fan_in, fan_out), sorted.

    Raises:
        UnequalWork: a layer's values fall outside the bound, or their spread is not the
            uniform distribution's (bound / sqrt 3, within 10% for layers of 1000+ values).
    """
    shapes = []
    for layer in (m for m in model.modules() if isinstance(m, nn.Linear)):
        bound = 1 / math.sqrt(layer.in_features)
        for p in (layer.weight, layer.bias):
            values = p.detach().float()
            if values.abs().max() > bound or (
                values.numel() >= 1000 and abs(values.std() / (bound / math.sqrt(3)) - 1) > 0.1
            ):
                raise UnequalWork(f"{name}: a {tuple(p.shape)} layer is not initialised as "
                                  "nn.Linear's default")  # fmt: skip
        shapes.append((layer.in_features, layer.out_features))
    return sorted(shapes)


def check_equal_work(results: dict[str, Result], shapes: dict[str, list[tuple[int, int]]]) -> None:
    """Every contender took the same optimiser steps per seed and has the same layers."""
    steps = {name: r.steps for name, r in results.items() if r.steps}
    if len({tuple(s) for s in steps.values()}) > 1:
        raise UnequalWork(f"optimiser steps per seed differ: {steps}")
    if len({tuple(s) for s in shapes.values()}) > 1:
        raise UnequalWork(f"the layers (fan_in, fan_out) differ: {shapes}")


def same_loss(ours: list[float], theirs: list[float]) -> float:
    """Welch's t-test p-value that two contenders' test losses over seeds have equal means
    (1.0 where there are fewer than two seeds or no spread: nothing to compare against).
    """
    if min(len(ours), len(theirs)) < 2:
        return 1.0
    if statistics.stdev(ours) == 0 and statistics.stdev(theirs) == 0:
        return 1.0 if statistics.mean(ours) == statistics.mean(theirs) else 0.0
    return float(stats.ttest_ind(ours, theirs, equal_var=False).pvalue)


# --- genkit --------------------------------------------------------------------------------


def genkit_contender(
    data_file: Path,
    data: dict[str, np.ndarray],
    device: torch.device,
    args: argparse.Namespace,
    seed: int,
    workdir: Path,
) -> tuple[Result, list[tuple[int, int]]]:
    """genkit's Trainer from the spec; per-epoch seconds from the run's record."""
    from genkit_core import Callback, Params, TrainingRun, build_model, load_spec
    from genkit_core.record import read_history
    from genkit_core.training import Trainer

    overrides = [
        f"data.path={data_file}",
        f"train.device={device.type}",
        f"train.batch_size={args.batch_size}",
        f"train.epochs={args.epochs}",
        f"train.seed={seed}",
        f"train.threads={args.threads}",
        "logging=[{type: csv}]",
    ]
    spec = load_spec(SPEC, overrides)
    torch.manual_seed(seed)  # as the trainer does before it builds the model
    shapes = check_default_init(build_model(spec), "genkit")
    run_dir = Path(tempfile.mkdtemp(dir=workdir))

    class LoopStart(Callback):
        """The loop begins once the data and model are ready and step 0 is checkpointed."""

        def on_fit_start(self, run: TrainingRun) -> None:
            self.at = time.perf_counter()

    start, loop = time.perf_counter(), LoopStart(Params())
    trainer = Trainer(spec, run_dir, overwrite=True, stream=None, callbacks=[loop])
    result = trainer.fit()
    end = time.perf_counter()
    for split in ("train", "test"):
        theirs = torch.as_tensor(getattr(trainer.data, split).x).reshape(-1)
        if not torch.equal(theirs, torch.from_numpy(data[f"x_{split}"]).reshape(-1)):
            raise UnequalWork(f"genkit trained on other {split} data than the plain loop")
    seconds = [float(s) for s in read_history(run_dir)["seconds"] if s is not None]
    wall = (end - loop.at) / args.epochs
    out = Result("genkit", seconds, [wall] * args.epochs)
    out.setup.append(loop.at - start)
    out.test_losses.append(result.metrics["test_loss"])
    out.steps.append(result.steps)
    return out, shapes


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
        out.test_losses.append(float(model({"data": x}).loss))
    return out


# --- running and reporting -----------------------------------------------------------------


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run(args: argparse.Namespace) -> dict[str, Result]:
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    workdir = Path(tempfile.mkdtemp(prefix="genkit-bench-"))
    data = synthetic(512, 256) if args.smoke else load_mnist(args.data, args.limit)
    data_file = workdir / "data.npz"
    np.savez(data_file, **data)
    results: dict[str, Result] = {}
    shapes: dict[str, list[tuple[int, int]]] = {}
    plain = [("plain", False, False), ("plain-fused", True, False)]
    if device.type == "cuda":
        plain.append(("plain-graph", True, True))
    for seed in range(args.rounds):
        for name, fused, graph in plain:
            got = plain_contender(
                name, data, device, args.batch_size, args.epochs, seed, fused, graph
            )
            shapes[name] = check_default_init(PlainVAE(), name)
            _merge(results, got)
        got, shapes["genkit"] = genkit_contender(data_file, data, device, args, seed, workdir)
        torch.set_num_threads(args.threads)
        _merge(results, got)
        print(f"round {seed + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    check_equal_work(results, shapes)
    if not args.no_pythae:
        pythae = pythae_contender(data, device, args.batch_size, args.epochs, workdir)
        if pythae is not None:
            results["pythae"] = pythae
    return results


def _merge(results: dict[str, Result], got: Result) -> None:
    into = results.setdefault(got.name, Result(got.name))
    into.epochs += got.epochs
    into.wall += got.wall
    into.test_losses += got.test_losses
    into.steps += got.steps
    into.setup += got.setup


def report(results: dict[str, Result], args: argparse.Namespace) -> tuple[str, list[str]]:
    """The table, and the contenders whose test loss differs from the plain loop's beyond noise."""
    base = results["plain"]

    def median_ratio(name: str) -> float:
        ours, theirs = results[name].epochs, base.epochs
        if name == "pythae":
            return statistics.median(ours) / statistics.median(theirs)
        return statistics.median(a / b for a, b in zip(ours, theirs, strict=False))

    def spread(losses: list[float]) -> str:
        return f"{statistics.stdev(losses):.3f}" if len(losses) > 1 else "n/a"

    lines = [
        f"device {args.device}, batch {args.batch_size}, {args.rounds} rounds (seeds 0 to "
        f"{args.rounds - 1}) x {args.epochs} epochs, {args.threads} threads, "
        f"{base.steps[0]} optimiser steps per seed for every contender, torch {torch.__version__}",
        "| contender | s/epoch (median) | ratio to plain (median of rounds) "
        "| test loss (mean over seeds) | seed noise (sd) | p, same loss as plain |",
        "|---|---|---|---|---|---|",
    ]
    unequal = []
    for name, result in results.items():
        p = same_loss(result.test_losses, base.test_losses) if name != "pythae" else float("nan")
        if p < SAME_LOSS_P:
            unequal.append(name)
        lines.append(
            f"| {name} | {statistics.median(result.epochs):.3f} | {median_ratio(name):.3f} "
            f"| {statistics.mean(result.test_losses):.3f} | {spread(result.test_losses)} "
            f"| {p:.3g} |"
        )
    genkit = results.get("genkit")
    if genkit and genkit.wall:
        wall = statistics.median(genkit.wall)
        lines.append(
            "| genkit, wall per epoch: its loop, every epoch's end (evaluation, checkpoint, "
            f"weights, pictures) and the last writes | {wall:.3f} "
            f"| {wall / statistics.median(base.epochs):.3f} | | | |"
        )
        lines.append(
            f"\ngenkit's setup before its first step (data, model, optimiser, run directory): "
            f"{statistics.median(genkit.setup):.2f} s (median)"
        )
    return "\n".join(lines), unequal


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per contender per round")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds, one seed each")
    parser.add_argument(
        "--threads", type=int, default=torch.get_num_threads(),
        help="intra-op threads for every contender (default: torch's, the physical cores)",
    )  # fmt: skip
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="an mnist.npz (Keras layout)"
    )
    parser.add_argument("--limit", type=int, help="use only the first N training images")
    parser.add_argument("--no-pythae", action="store_true", help="skip Pythae even if installed")
    parser.add_argument("--json", type=Path, help="also write the raw timings here")
    parser.add_argument(
        "--smoke", action="store_true", help="tiny synthetic data, one epoch, two seeds (CI)"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.epochs, args.rounds, args.no_pythae = 1, 2, True
    elif not args.data.is_file():
        parser.error(f"{args.data} not found; pass --data PATH to an mnist.npz, or --smoke")
    results = run(args)
    table, unequal = report(results, args)
    print(table)
    if args.json:
        args.json.write_text(json.dumps({k: vars(v) for k, v in results.items()}, indent=2))
    if unequal:
        raise UnequalWork(
            f"the test loss of {', '.join(unequal)} differs from the plain loop's by more than "
            f"the seed noise (Welch's t-test p < {SAME_LOSS_P}); see the table"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
