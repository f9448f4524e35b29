"""Ex-post samplers side by side: genkit's fitted priors and Pythae's samplers, fitted to the same
training codes of a trained MNIST run and measured by the same Frechet distance and
precision/recall on the same number of draws.

For each run the training codes (posterior means, or an autoencoder's codes) are computed once.
genkit's priors are built from their spec sections and fitted to that tensor (``prior.fit``,
what ``genkit train`` does when training ends). Pythae's samplers (``NormalSampler``,
``GaussianMixtureSampler``, ``TwoStageVAESampler`` for a VAE, ``MAFSampler``, ``IAFSampler``)
are fitted through Pythae's own API to a Pythae model that wraps the run's encoder and decoder:
its encoder returns the posterior mean as ``embedding`` and the model's ``z`` is that mean, so
Pythae fits the same codes (the script checks this and reports the largest difference).

Every sampler draws ``--n`` latents, decoded to the likelihood's means, and is scored against
``--n`` test images in the features of genkit's ``digit_classifier`` (trained on the training
images once and cached, as ``mnist_sample_quality.py`` does): genkit's ``frechet_distance``
(the FID's formula with a digit classifier's features, not Inception's) and
``precision_recall`` (Kynkaenniemi et al., 2019, k = 3 nearest neighbours), the functions
``genkit eval --metric fd`` and ``--metric precision_recall`` use. The floor is the same
figures for ``--n`` training images against the test images. Fit and sampling times are CPU
seconds of this process (one thread).

    python benchmarks/mnist_samplers.py RUN [RUN ...] --n 10000 --json out.json
    python benchmarks/mnist_samplers.py --table-from out.json [more.json ...]
    python benchmarks/mnist_samplers.py --smoke          # random data; Pythae if installed
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mnist_data import DEFAULT_DATA, load_mnist, synthetic
from mnist_sample_quality import classifier, features

from genkit_core.components import build_component
from genkit_core.data import as_float, load_data
from genkit_core.model import LatentVariableModel
from genkit_core.registry import get_registry
from genkit_core.run import load_run
from genkit_plugins.metrics import frechet_distance, precision_recall

# genkit's priors, each beside the Pythae sampler that does the same job (None: no counterpart).
GENKIT_PRIORS: list[tuple[dict[str, Any], str | None]] = [
    ({"type": "standard_normal"}, "NormalSampler"),
    ({"type": "code_gaussian"}, None),
    ({"type": "code_gmm", "components": 10}, "GaussianMixtureSampler"),
    ({"type": "code_vae"}, "TwoStageVAESampler"),
    ({"type": "code_maf"}, "MAFSampler"),
    ({"type": "code_diffusion"}, None),
]
PYTHAE_SAMPLERS = [
    "NormalSampler", "GaussianMixtureSampler", "TwoStageVAESampler", "MAFSampler", "IAFSampler",
]  # fmt: skip


@dataclass
class Draws:
    """What one sampler produced: images ``(n, 1, 28, 28)``, its CPU seconds, and the latents
    it drew ``(n, L)`` (decoded into the images).
    """

    images: torch.Tensor
    fit_s: float
    sample_s: float
    latents: torch.Tensor


def spread(latents: torch.Tensor, codes: torch.Tensor) -> float:
    """The drawn latents' total standard deviation over the codes': about 1 for a sampler that
    covers the codes, near 0 for one that collapsed onto a point.
    """
    return float((latents.var(0).sum() / codes.flatten(1).var(0).sum()).sqrt())


def _cpu_seconds(work: Callable[[], Any]) -> tuple[Any, float]:
    started = time.process_time()
    out = work()
    return out, time.process_time() - started


# --- the measure ---------------------------------------------------------------------------


def score(drawn: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """FD, precision and recall of ``features`` against the test images' ``reference``."""
    return {"fd": frechet_distance(drawn, reference), **precision_recall(reference, drawn)}


# --- genkit's priors -----------------------------------------------------------------------


@torch.no_grad()
def _decode(model: LatentVariableModel, z: torch.Tensor) -> torch.Tensor:
    means = [model.likelihood.mean(model.decode(b)) for b in z.split(1000)]
    return torch.cat(means).reshape(-1, 1, 28, 28).clamp(0, 1)


def genkit_draws(
    model: LatentVariableModel, section: dict[str, Any], codes: torch.Tensor, n: int, seed: int = 0
) -> Draws:
    """Build the prior ``section`` names, fit it to ``codes`` (if fitted after training), draw
    ``n`` latents and decode them. ``seed`` seeds the fit (a prior's own ``seed``) and the draws.
    """
    registry = get_registry()
    spec = registry.spec_model("prior", section["type"])
    if "seed" in spec.model_fields:
        section = {**section, "seed": seed}
    params = spec.model_validate(section)
    prior = build_component("prior", params, registry, latent_dim=model.latent_dim)
    prior.bind(model)
    torch.manual_seed(seed)
    _, fit_s = _cpu_seconds(lambda: prior.fit(codes) if prior.fitted_after_training else None)
    torch.manual_seed(seed)
    z, sample_s = _cpu_seconds(lambda: prior.sample(n).detach())
    images, decode_s = _cpu_seconds(lambda: _decode(model, z))
    return Draws(images, fit_s, sample_s + decode_s, z.flatten(1))


# --- Pythae's samplers, on a Pythae model wrapping the run ---------------------------------


def pythae_model(model: LatentVariableModel, brightest: float = 1.0) -> Any:
    """A Pythae model whose encoder and decoder are the run's: ``embedding`` is the posterior
    mean (``log_covariance`` the posterior's log-variance, zeros for a deterministic code), the
    ``reconstruction`` the likelihood's mean as ``(B, 1, 28, 28)`` images, and the model's ``z``
    the embedding, so that every sampler fits exactly the codes genkit's priors fit. A VAE run
    becomes a Pythae ``VAE`` (so ``TwoStageVAESampler`` accepts it), an autoencoder an ``AE``.

    Pythae's samplers refuse training images whose largest value is below 1 (an assert in
    their ``fit``); images divided by their ``brightest`` value are handed to Pythae, and the
    encoder multiplies them back.
    """
    from pythae.models import AE, VAE, AEConfig, VAEConfig
    from pythae.models.base.base_utils import ModelOutput
    from pythae.models.nn import BaseDecoder, BaseEncoder

    shape = model.data_info.shape

    class Encoder(BaseEncoder):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.run = model

        def forward(self, x: torch.Tensor) -> ModelOutput:
            q = self.run.posterior_of((x * brightest).reshape(-1, *shape))
            code = self.run.posterior.code(q)
            scale = getattr(q, "stddev", None) if self.run.posterior.stochastic else None
            log_var = torch.zeros_like(code) if scale is None else 2 * scale.log()
            return ModelOutput(embedding=code, log_covariance=log_var)

    class Decoder(BaseDecoder):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.run = model
            self.seen: list[torch.Tensor] = []  # the latents decoded, kept while sampling

        def forward(self, z: torch.Tensor) -> ModelOutput:
            self.seen.append(z.detach())
            means = self.run.likelihood.mean(self.run.decode(z))
            return ModelOutput(reconstruction=means.reshape(-1, 1, 28, 28).clamp(0, 1))

    def forward(self: Any, inputs: Any, **kwargs: Any) -> ModelOutput:
        return ModelOutput(z=self.encoder(inputs["data"]).embedding)

    base, config = (VAE, VAEConfig) if model.posterior.stochastic else (AE, AEConfig)
    wrapper = type(f"MeanCode{base.__name__}", (base,), {"forward": forward})
    return wrapper(config(input_dim=(1, 28, 28), latent_dim=model.latent_dim), Encoder(), Decoder())


def pythae_draws(
    name: str, wrapped: Any, images: torch.Tensor, n: int, args: Any, out: Path
) -> Draws | str:
    """Fit Pythae's sampler ``name`` on the training ``images`` through ``wrapped`` and draw
    ``n`` images (``args.epochs``, ``args.lr`` and ``args.seed`` set the trained samplers' fit);
    a string says why the sampler does not apply.
    """
    import pythae.samplers as samplers
    from pythae.models import VAE
    from pythae.trainers import BaseTrainerConfig

    if name == "TwoStageVAESampler" and not isinstance(wrapped, VAE):
        return "Pythae's TwoStageVAESampler takes VAE models only"
    sampler = getattr(samplers, name)(wrapped)
    trained = name in ("TwoStageVAESampler", "MAFSampler", "IAFSampler")
    config = BaseTrainerConfig(
        output_dir=str(out), num_epochs=args.epochs, learning_rate=args.lr, seed=args.seed,
        per_device_train_batch_size=64, per_device_eval_batch_size=64,
    )  # fmt: skip
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)  # scikit-learn's GaussianMixture draws from NumPy's global generator
    fit = lambda: sampler.fit(images, training_config=config) if trained else sampler.fit(images)  # noqa: E731
    _, fit_s = _cpu_seconds(fit)
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    wrapped.decoder.seen = []
    drawn, sample_s = _cpu_seconds(lambda: sampler.sample(num_samples=n, batch_size=1000))
    return Draws(drawn.detach(), fit_s, sample_s, torch.cat(wrapped.decoder.seen))


def _have_pythae() -> bool:
    try:
        import pythae.samplers  # noqa: F401
    except ImportError:
        return False
    return True


# --- one run ---------------------------------------------------------------------------------


@torch.no_grad()
def _codes(model: LatentVariableModel, x: torch.Tensor) -> torch.Tensor:
    """The training codes, in batches of 100 as Pythae's samplers encode."""
    return torch.cat([model.encode(b) for b in x.split(100)])


def measure_run(run: Path, net: Any, reference: np.ndarray, args: Any) -> list[dict[str, Any]]:
    """Every sampler's row for one run."""
    torch.manual_seed(0)
    model = load_run(run).eval()
    train = as_float(torch.as_tensor(np.asarray(load_data(model.spec).train.x)))
    codes, encode_s = _cpu_seconds(lambda: _codes(model, train))
    featured = lambda d: features(net, d.images)  # noqa: E731
    rows: list[dict[str, Any]] = []

    def add(library: str, sampler: str, result: Draws | str, counterpart: str | None) -> None:
        label = sampler if args.seed == 0 else f"{sampler} (seed {args.seed})"
        row: dict[str, Any] = {"run": run.name, "library": library, "sampler": label}
        row["counterpart"] = counterpart
        if isinstance(result, str):
            row["skipped"] = result
        else:
            row.update(score(featured(result), reference), fit_s=result.fit_s)
            row.update(sample_s=result.sample_s, spread=spread(result.latents, codes))
        rows.append(row)
        print(f"  {run.name} {library} {sampler}: {row}", file=sys.stderr)

    known = set(get_registry().names("prior"))
    for section, counterpart in GENKIT_PRIORS:
        name = section["type"]
        if args.only and name not in args.only:
            continue
        if name not in known:
            add("genkit", name, f"genkit has no '{name}' prior in this version", counterpart)
            continue
        add("genkit", name, genkit_draws(model, section, codes, args.n, args.seed), counterpart)
    wanted = [name for name in PYTHAE_SAMPLERS if not args.only or name in args.only]
    if not wanted:
        return [{"run": run.name, "encode_s": encode_s, "codes": list(codes.shape)}, *rows]
    if not _have_pythae():
        for name in wanted:
            add("pythae", name, "pythae is not installed", None)
        return [{"run": run.name, "encode_s": encode_s, "codes": list(codes.shape)}, *rows]
    brightest = float(train.max())
    wrapped = pythae_model(model, brightest).eval()
    images = train.reshape(-1, 1, 28, 28) / brightest
    with torch.no_grad():
        embedded = torch.cat([wrapped({"data": b}).z for b in images.split(100)])
    gap = float((embedded - codes.flatten(1)).abs().max())
    with tempfile.TemporaryDirectory(prefix="pythae-") as out:
        for name in wanted:
            drawn = pythae_draws(name, wrapped, images, args.n, args, Path(out))
            add("pythae", name, drawn, None)
    head = {"run": run.name, "encode_s": encode_s, "codes": list(codes.shape), "max_gap": gap}
    return [head, *rows]


# --- the smoke runs and the table --------------------------------------------------------------


def _smoke_runs(folder: Path) -> list[Path]:
    """A tiny autoencoder and a tiny VAE, one epoch each on random 28x28 images."""
    from genkit_core.training import Trainer

    np.savez(folder / "mnist.npz", **synthetic(64, 32))
    runs = []
    for kind, prior in (("ae", {"type": "code_gmm", "components": 2}), ("vae", None)):
        spec = {
            "model": kind, "latent_dim": 2,
            "data": {"type": "tensor_file", "path": str(folder / "mnist.npz"), "flatten": True},
            "encoder": {"type": "mlp", "hidden": [8]}, "decoder": {"type": "mlp", "hidden": [8]},
            "likelihood": {"type": "bernoulli"},
            "train": {"epochs": 1, "batch_size": 32, "device": "cpu", "progress": False},
        }  # fmt: skip
        if prior is not None:
            spec["prior"] = prior
        Trainer(spec, folder / kind, stream=None).fit()
        runs.append(folder / kind)
    return runs


def _cell(row: dict[str, Any], key: str, form: str) -> str:
    return format(row[key], form) if key in row else ""


def _note(head: dict[str, Any]) -> str:
    codes, seconds = head["codes"], head["encode_s"]
    note = f"{head['run']}: {codes[0]} codes of {codes[1]}, encoded in {seconds:.1f} CPU s"
    if "max_gap" in head:
        note += f"; Pythae's embeddings differ from them by {head['max_gap']:.3g} at most"
    return note


def table(rows: list[dict[str, Any]]) -> str:
    """The markdown table: one row per run, library and sampler, the floor first."""
    notes = [_note(r) for r in rows if "codes" in r]
    lines = [
        "| run | library | sampler | FD | precision | recall | fit (CPU s) | sampling (CPU s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in _paired(rows):
        if "library" not in row:
            continue
        cells = [_cell(row, k, ".2f") for k in ("fd", "precision", "recall", "fit_s", "sample_s")]
        if "skipped" in row:
            cells = [f"not run: {row['skipped']}", "", "", "", ""]
        lines.append(
            f"| {row['run']} | {row['library']} | {row['sampler']} | " + " | ".join(cells) + " |"
        )
    return "\n".join([*lines, "", *notes])


def _images(x: np.ndarray, n: int) -> torch.Tensor:
    return torch.as_tensor(x[:n], dtype=torch.float32).div(255).view(-1, 1, 28, 28)


def _saved_rows(files: list[Path]) -> list[dict[str, Any]]:
    """The rows of several saved JSONs: a later file's row of a run, library and sampler
    replaces an earlier one's (a sampler measured after it became available), one floor.
    """
    rows: dict[tuple[str, ...], dict[str, Any]] = {}
    for file in files:
        for row in json.loads(file.read_text()):
            key = (row["run"], row.get("library", "head"), row.get("sampler", ""))
            if "library" not in row:  # a run's head: what each file learnt of its codes
                rows[key] = {**rows.get(key, {}), **row}
            elif key not in rows or row["run"] != "floor":
                rows[key] = row
    return list(rows.values())


def _paired(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows in table order: the floor, then per run each genkit prior beside its Pythae
    counterpart, then Pythae's samplers without one, then anything else (other seeds).
    """
    order = [("", "test vs train images")]
    for section, counterpart in GENKIT_PRIORS:
        order += [("genkit", section["type"])] + ([("pythae", counterpart)] if counterpart else [])
    order += [("pythae", name) for name in PYTHAE_SAMPLERS if ("pythae", name) not in order]
    rank = {key: i for i, key in enumerate(order)}
    runs = list(dict.fromkeys(r["run"] for r in rows))
    where = lambda r: rank.get((r.get("library"), r.get("sampler")), len(order))  # noqa: E731
    return sorted(
        rows, key=lambda r: (runs.index(r["run"]) if r["run"] != "floor" else -1, where(r))
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="*", type=Path, help="run directories of MNIST models")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="an mnist.npz")
    parser.add_argument("--n", type=int, default=10_000, help="draws and test images per set")
    parser.add_argument("--steps", type=int, default=1000, help="classifier training steps")
    parser.add_argument(
        "--epochs", type=int, default=5,
        help="epochs of Pythae's trained samplers (5 of batch 64: the steps of genkit's 20 of 256)",
    )  # fmt: skip
    parser.add_argument("--lr", type=float, default=1e-3, help="their learning rate")
    parser.add_argument("--seed", type=int, default=0, help="seeds every fit and draw")
    parser.add_argument("--only", nargs="+", help="these samplers alone (genkit or Pythae names)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--smoke", action="store_true", help="random data, two tiny runs")
    parser.add_argument("--table-from", nargs="+", type=Path, help="print the table of saved JSONs")
    args = parser.parse_args()
    known = [section["type"] for section, _ in GENKIT_PRIORS] + PYTHAE_SAMPLERS
    unknown = sorted(set(args.only or []) - set(known))
    if unknown:
        parser.error(f"--only: unknown sampler {', '.join(unknown)}; known: {', '.join(known)}")
    missing = [str(f) for f in args.table_from or [] if not f.is_file()]
    if missing:
        parser.error(f"--table-from: no such file {', '.join(missing)}")
    if args.table_from:
        print(table(_saved_rows(args.table_from)))
        return 0
    runs, steps = args.runs, args.steps
    torch.set_num_threads(1)
    if args.smoke:
        folder = Path(tempfile.mkdtemp(prefix="genkit-smoke-"))
        data, runs, steps = synthetic(64, 32), _smoke_runs(folder), 2
        args.n, args.epochs = 16, 1
    else:
        data = load_mnist(args.data)
    net = classifier(data, steps, cache=not args.smoke)

    as_images = partial(_images, n=args.n)
    reference = features(net, as_images(data["x_test"]))
    floor = score(features(net, as_images(data["x_train"])), reference)
    rows: list[dict[str, Any]] = [
        {"run": "floor", "library": "", "sampler": "test vs train images", **floor}
    ]
    for run in runs:
        rows += measure_run(run, net, reference, args)
    print(table(rows))
    print(f"({args.n} draws and {args.n} test images per set)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
