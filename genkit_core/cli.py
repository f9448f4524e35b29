"""The ``genkit`` command line: train, eval, sample, reconstruct, report, plot, plugins, describe,
schema, validate.

A user's mistake (a :class:`~genkit_core.errors.GenkitError`) is printed as one line and exits
with status 1; Ctrl-C exits with 130 after saving a checkpoint (SIGTERM: 143); anything else is
a bug and keeps its traceback. ``--traceback`` shows the traceback of any error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ._version import __version__
from .errors import GenkitError, RunError, one_line

__all__ = ["main"]

Command = Callable[[argparse.Namespace], int]
_COMMANDS: dict[str, tuple[Command, str]] = {}


def _command(name: str, summary: str) -> Callable[[Command], Command]:
    def register(fn: Command) -> Command:
        _COMMANDS[name] = (fn, summary)
        return fn

    return register


def _is_main_process() -> bool:
    return os.environ.get("RANK", "0") == "0"


def _out(line: str = "") -> None:
    if _is_main_process():
        print(line, flush=True)


def _warn_plugin_problems() -> None:
    from .registry import get_registry

    if _is_main_process():
        for problem in get_registry().problems:
            print(f"genkit: warning: {problem}", file=sys.stderr)


# --- train ---------------------------------------------------------------------------------


@_command("train", "train a model from a spec into a run directory")
def _train(args: argparse.Namespace) -> int:
    from .training import Trainer

    if args.spec is None and args.resume is None:
        raise RunError("name a spec to train, or --resume RUN_DIR to continue a run")
    if args.resume is not None and args.spec is not None:
        raise RunError("--resume continues the run with its own spec.yaml; do not also name a spec")
    _warn_plugin_problems()
    run_dir = args.resume if args.resume is not None else args.output
    trainer = Trainer(
        args.spec, run_dir, resume=args.resume is not None, overwrite=args.overwrite,
        overrides=args.set, stream=None if args.quiet else sys.stderr,
    )  # fmt: skip
    result = trainer.fit()
    _out(f"trained {trainer.spec.model} in {result.run_dir} ({result.steps} steps)")
    if "test_loss" in result.metrics:
        _out(f"test loss {result.metrics['test_loss']:.4f} nats per example")
    return 0


# --- eval ----------------------------------------------------------------------------------


@_command("eval", "evaluate a run on its test set (negative ELBO, IW bound, active units)")
def _eval(args: argparse.Namespace) -> int:
    from .data import load_data
    from .evaluation import evaluate_test_split
    from .run import load_run

    model = load_run(args.run_dir, device=_device(args.device))
    spec = model.spec
    report = evaluate_test_split(
        model, load_data(spec), args.batch_size, args.iw_samples, args.seed, args.max_batch,
        spec.train.num_workers,
    )  # fmt: skip
    report = {"run": str(args.run_dir), "model": spec.model, "data": spec.data.type, **report}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_report(report, spec.likelihood.type)
    return 0


def _print_report(r: dict[str, Any], likelihood: str) -> None:
    _out(
        f"{r['run']}: {r['model']} on {r['data']}, {r['examples']} test examples, nats per example"
    )
    if "negative_elbo" in r:
        _out(f"  negative ELBO     {r['negative_elbo']:10.4f}")
        _out(f"    reconstruction  {r['reconstruction']:10.4f}")
        _out(f"    KL              {r['kl']:10.4f}")
        if "iw_nll" in r:
            _out(f"  -log p(x), IW     {r['iw_nll']:10.4f}   (K = {r['iw_samples']})")
    else:
        _out(f"  reconstruction    {r['reconstruction']:10.4f}")
    _out(f"  active units      {r['active_units']:>10} of {r['latent_units']}")
    if not r["normalized"]:
        _out(f"  note: the {likelihood} likelihood drops its normalising constant, so these are "
             "not log-densities; compare them only with runs of the same likelihood")  # fmt: skip


# --- sample and reconstruct ----------------------------------------------------------------


@_command("sample", "draw samples from a trained model and save them as an image grid")
def _sample(args: argparse.Namespace) -> int:
    import torch

    from .images import as_images, save_grid
    from .run import load_run

    model = load_run(args.run_dir, device=_device(args.device))
    if not model.can_sample:
        raise RunError(
            f"{args.run_dir} is an autoencoder without a prior to sample from; use genkit "
            "reconstruct, or train it with a prior fitted after training (prior: {type: "
            "code_gaussian}) or as a vae"
        )
    device = next(model.parameters()).device
    labels = None
    if args.label is not None:
        classes = model.data_info.num_classes
        if model.conditioner is None or classes is None:
            raise RunError(
                f"--label needs a cvae trained on class labels; {args.run_dir} is a {model.kind}"
            )
        if not 0 <= args.label < classes:
            raise RunError(
                f"--label {args.label} is out of range: the classes are 0 to {classes - 1}"
            )
        labels = torch.full((args.n,), args.label, device=device)
    torch.manual_seed(args.seed)
    with torch.no_grad():
        x = model.sample(args.n, labels, mean=not args.draw)
    images = _images_or_fail(as_images(x, model.data_info.shape))
    suffix = f"_label{args.label}" if args.label is not None else ""
    out = args.output or Path(args.run_dir) / f"samples_n{args.n}{suffix}.png"
    save_grid(Path(out), images, nrow=args.nrow)
    _out(f"wrote {out}")
    return 0


@_command("reconstruct", "save test images beside their reconstructions")
def _reconstruct(args: argparse.Namespace) -> int:
    import torch

    from .data import as_float, load_data
    from .images import as_images, save_grid
    from .run import load_run

    model = load_run(args.run_dir, device=_device(args.device))
    device = next(model.parameters()).device
    test = load_data(model.spec).test
    x = as_float(torch.as_tensor(test.x[: args.n])).to(device)
    y = (
        None
        if test.y is None or model.conditioner is None
        else torch.as_tensor(test.y[: args.n]).to(device)
    )
    with torch.no_grad():
        pairs = torch.stack([x, model.reconstruct(x, y)], dim=1).flatten(0, 1)
    out = args.output or Path(args.run_dir) / "reconstructions_cli.png"
    save_grid(Path(out), _images_or_fail(as_images(pairs, model.data_info.shape)), nrow=16)
    _out(f"wrote {out} (each input followed by its reconstruction)")
    return 0


def _images_or_fail(images: Any) -> Any:
    if images is None:
        raise RunError("this data is not images (nor flat squares), so there is no picture to draw")
    return images


# --- report and plot -----------------------------------------------------------------------


@_command("report", "write a self-contained HTML page: spec, metrics, curves and figures")
def _report_page(args: argparse.Namespace) -> int:
    from .report import write_report

    out = write_report(args.run_dir, args.output, _device(args.device), args.iw_samples)
    _out(f"wrote {out}")
    return 0


@_command("plot", "write one figure as PNG: latent, curves, interpolate or traverse")
def _plot(args: argparse.Namespace) -> int:
    from .report import write_plot

    out = write_plot(args.run_dir, args.figure, args.output, _device(args.device))
    _out(f"wrote {out}")
    return 0


# --- plugins, schema, validate -------------------------------------------------------------


@_command("plugins", "list every registered component and the package providing it")
def _plugins(args: argparse.Namespace) -> int:
    from .registry import get_registry

    registry = get_registry()
    rows = [(c.kind, c.name, c.package or c.plugin, c.summary) for c in registry.components()]
    if args.json:
        problems = [
            {"plugin": p.plugin, "package": p.package, "problem": p.message}
            for p in registry.problems
        ]
        keys = ("kind", "name", "package", "summary")
        print(
            json.dumps(
                {
                    "components": [dict(zip(keys, r, strict=True)) for r in rows],
                    "problems": problems,
                },
                indent=2,
            )
        )
        return 0
    widths = [max(len(r[i]) for r in [("kind", "name", "package", ""), *rows]) for i in range(3)]
    header = ("KIND", "NAME", "PACKAGE", "DESCRIPTION")
    for row in [header, *rows]:
        _out("  ".join(v.ljust(w) for v, w in zip(row[:3], widths, strict=True)) + "  " + row[3])
    for problem in registry.problems:
        _out(f"problem: {problem}")
    return 0


@_command("describe", "the reference of a component: formula, every parameter, an example line")
def _describe(args: argparse.Namespace) -> int:
    import difflib

    from .describe import component_text, describe
    from .errors import UnknownComponentError
    from .interfaces import KINDS
    from .registry import get_registry

    if args.kind not in KINDS:
        close = difflib.get_close_matches(args.kind, list(KINDS), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ";"
        raise UnknownComponentError(f"unknown kind '{args.kind}'{hint} known: {', '.join(KINDS)}")
    registry = get_registry()
    names = [args.name] if args.name else registry.names(args.kind)
    texts = [component_text(describe(registry.get(args.kind, name))) for name in names]
    _out("\n".join(texts).rstrip() if texts else f"no {args.kind} is registered")
    return 0


@_command("schema", "print the JSON Schema of specs (every registered plugin included)")
def _schema(args: argparse.Namespace) -> int:
    from .spec import spec_model

    text = json.dumps(spec_model().model_json_schema(), indent=2)
    if args.output:
        Path(args.output).write_text(text + "\n")
        _out(f"wrote {args.output}")
    else:
        print(text)
    return 0


@_command("validate", "check a spec: ok, or every error with the path of its field")
def _validate(args: argparse.Namespace) -> int:
    from .build import build_model
    from .spec import SpecValidationError, load_spec

    _warn_plugin_problems()
    try:
        spec = load_spec(args.spec, args.set)
    except SpecValidationError as exc:
        for field, message in exc.errors:
            line = f"{args.spec}: {field + ': ' if field else ''}{message}"
            print(one_line(line), file=sys.stderr)
        return 1
    model = build_model(spec, device="meta")
    count = sum(p.numel() for p in model.parameters())
    _out(f"{args.spec}: ok ({spec.model}, latent_dim {spec.latent_dim}, {count:,} parameters)")
    return 0


# --- the parser ----------------------------------------------------------------------------


def _device(requested: str) -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genkit", description="Latent-variable generative models from declarative specs."
    )
    parser.add_argument("--version", action="version", version=f"genkit {__version__}")
    parser.add_argument("--traceback", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parsers = {
        name: sub.add_parser(name, help=summary, description=summary)
        for name, (_, summary) in _COMMANDS.items()
    }

    p = parsers["train"]
    p.add_argument("spec", nargs="?", help="spec file (YAML, JSON or TOML)")
    p.add_argument("-o", "--output", type=Path, help="run directory (default: runs/<spec name>)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a spec field, e.g. train.epochs=2 (repeatable)")  # fmt: skip
    p.add_argument(
        "--resume", type=Path, metavar="RUN_DIR", help="continue a run from its checkpoint"
    )
    p.add_argument("--overwrite", action="store_true", help="replace an existing run directory")
    p.add_argument("-q", "--quiet", action="store_true", help="print no progress")

    p = parsers["eval"]
    p.add_argument("run_dir", type=Path)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--iw-samples", type=_nonnegative, default=1000, metavar="K",
                   help="importance samples for -log p(x) (0 skips it; default 1000)")  # fmt: skip
    p.add_argument("--batch-size", type=_positive, default=500, help="test examples per batch")
    p.add_argument("--max-batch", type=_positive, default=1 << 15,
                   help="bound on examples x samples per decoder call (memory)")  # fmt: skip

    p = parsers["sample"]
    p.add_argument("run_dir", type=Path)
    p.add_argument("-n", type=_positive, default=64, help="how many samples (default 64)")
    p.add_argument("--label", type=int, help="class to sample (cvae)")
    p.add_argument("-o", "--output", type=Path, help="PNG file (default: in the run directory)")
    p.add_argument("--nrow", type=_positive, default=8, help="images per row")
    p.add_argument(
        "--draw", action="store_true", help="draw from the likelihood instead of its mean"
    )

    p = parsers["reconstruct"]
    p.add_argument("run_dir", type=Path)
    p.add_argument("-n", type=_positive, default=32, help="how many test images (default 32)")
    p.add_argument("-o", "--output", type=Path, help="PNG file (default: in the run directory)")

    p = parsers["report"]
    p.add_argument("run_dir", type=Path)
    p.add_argument("-o", "--output", type=Path, help="HTML file (default: RUN_DIR/report.html)")
    p.add_argument("--iw-samples", type=_nonnegative, default=100, metavar="K",
                   help="importance samples for -log p(x) (0 skips it; default 100)")  # fmt: skip

    p = parsers["plot"]
    p.add_argument("run_dir", type=Path)
    p.add_argument("figure", choices=["latent", "curves", "interpolate", "traverse"])
    p.add_argument("-o", "--output", type=Path, help="PNG file (default: in the run directory)")

    parsers["plugins"].add_argument("--json", action="store_true", help="print as JSON")
    p = parsers["describe"]
    p.add_argument("kind", help="encoder, decoder, prior, likelihood, data, ... (genkit plugins)")
    p.add_argument("name", nargs="?", help="the component (default: every one of the kind)")
    parsers["schema"].add_argument("-o", "--output", type=Path, help="write to a file")
    p = parsers["validate"]
    p.add_argument("spec")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")

    for name in ("eval", "sample", "reconstruct"):
        parsers[name].add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
        parsers[name].add_argument("--seed", type=int, default=0, help="seed of the noise")
    for name in ("report", "plot"):
        parsers[name].add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _nonnegative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _report(exc: GenkitError, kind: str) -> None:
    """Print an error as one line; under torchrun, with its rank, or from rank 0 alone when
    every rank raised it together.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        print(f"genkit: {kind}{exc}", file=sys.stderr)
    elif not _raised_on_every_rank(exc):
        print(f"genkit: {kind}[rank {os.environ.get('RANK', '?')}] {exc}", file=sys.stderr)
    elif _is_main_process():
        print(f"genkit: {kind}{exc}", file=sys.stderr)


def _raised_on_every_rank(exc: GenkitError) -> bool:
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    from .training.distributed import is_raised_on_every_rank

    return is_raised_on_every_rank(exc)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``genkit`` command line; return the exit status."""
    args = _parser().parse_args(argv)
    command, _ = _COMMANDS[args.command]
    together = False  # whether every torchrun process ends the command here too
    try:
        status = command(args)
        together = True
        return status
    except GenkitError as exc:
        together = _raised_on_every_rank(exc)
        if args.traceback:
            raise
        from .training import TrainingInterrupted

        interrupted = isinstance(exc, TrainingInterrupted)
        status = exc.exit_status if interrupted else 1
        _report(exc, "" if interrupted else "error: ")
        return status
    except KeyboardInterrupt:
        print("genkit: interrupted", file=sys.stderr)
        return 130
    finally:
        _leave_process_group(together)


def _leave_process_group(together: bool) -> None:
    """End this process's part in a torchrun group; see ``leave_process_group``."""
    if "torch.distributed" in sys.modules:  # nothing to leave in a command that never imported it
        from .training.distributed import leave_process_group

        leave_process_group(wait=together)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
