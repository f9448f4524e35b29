"""The ``genkit`` command line: train, eval, sample, reconstruct, fit-prior, report, plot,
plugins, describe, schema, validate, sweep, compare.

A user's mistake (a :class:`~genkit_core.errors.GenkitError`) is printed as one line and exits
with status 1; Ctrl-C exits with 130 after saving a checkpoint (SIGTERM: 143); anything else is
a bug and keeps its traceback. ``--traceback`` shows the traceback of any error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ._version import __version__
from .errors import GenkitError, GenkitWarning, RunError, one_line, with_article
from .files import atomic_write, path_error
from .memory import keep_freed_memory

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
    if result.new_steps == 0 and args.resume is not None and result.stopped:
        _out(
            f"nothing to train: a callback stopped {result.run_dir} before the end of its "
            f"{trainer.spec.train.epochs} epochs (early stopping, or a sweep's pruner), and a "
            "stopped run trains no more; train a new run to go on"
        )
        return 0
    if result.new_steps == 0 and args.resume is not None:
        _out(
            f"nothing to train: {result.run_dir} has trained all {trainer.spec.train.epochs} "
            f"epochs of its spec; to train longer: genkit train --resume {result.run_dir} "
            "--set train.epochs=N"
        )
        return 0
    _out(f"trained {trainer.spec.model} in {result.run_dir} ({result.steps} steps)")
    if "test_loss" in result.metrics:
        at = f" at epoch {int(result.metrics['epoch'])}" if result.stopped else ""
        loss = result.metrics["test_loss"]
        note = _loss_note(trainer.spec, trainer.model)
        _out(f"test loss {loss:.4f} nats per example{at}{note}")
        if trainer.model.is_variational:
            _out(f"  genkit eval {result.run_dir} gives the negative ELBO and -log p(x)")
    if args.quiet:  # the trainer printed them on its stream otherwise
        for warning in result.warnings:
            print(f"genkit: warning: {warning}", file=sys.stderr)
    return 0


def _loss_note(spec: Any, model: Any) -> str:
    """How the training objective's test loss relates to genkit eval's negative ELBO."""
    if not model.objective.loss_is_elbo:  # asked of the objective, not named
        # genkit eval gives the negative ELBO of a variational model, and of an autoencoder
        # only its reconstruction term
        beside = "the negative ELBO" if model.is_variational else "-log p(x|z) at the code"
        return f" (the {spec.objective.type} objective; genkit eval gives {beside} beside it)"
    if model.divergence is None:
        return " (-log p(x|z) at each test example's code)"
    divergence = spec.divergence
    weighted = divergence.beta != 1 or divergence.anneal is not None or divergence.free_bits > 0
    if weighted or not model.divergence.is_kl:
        why = "weights its divergence" if weighted else f"uses {divergence.type}, not a KL"
        return f" (the training objective, which {why}: not the negative ELBO; docs/terms.md)"
    draws = spec.objective.samples
    per = "one draw" if draws == 1 else f"the mean of {draws} draws"
    return f" (the negative ELBO with {per} of z per test example)"


# --- eval ----------------------------------------------------------------------------------


@_command("eval", "evaluate a run on its test set (negative ELBO, IW bound, active units)")
def _eval(args: argparse.Namespace) -> int:
    from .data import load_data
    from .evaluation import evaluate_test_split
    from .run import load_run
    from .run_metrics import training_test_loss

    if args.metric:
        return _eval_metrics(args)
    model = load_run(args.run_dir, device=_device(args.device))
    spec = model.spec
    assert spec is not None  # load_run builds the model from the run's spec
    report = evaluate_test_split(
        model, load_data(spec), args.batch_size, args.iw_samples, args.seed, args.max_batch,
        spec.train.num_workers,
    )  # fmt: skip
    report = {"run": str(args.run_dir), "model": spec.model, "data": spec.data.type, **report}
    with contextlib.suppress(RunError):  # a foreign record: the bounds, without the loss
        loss = training_test_loss(args.run_dir, spec)
        if loss is not None:
            report["test_loss"] = loss
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_report(report, spec.likelihood.type, _loss_note(spec, model))
    return 0


def _eval_metrics(args: argparse.Namespace) -> int:
    """``genkit eval RUN --metric NAME ...``: the metrics' scores, kept in ``eval.json``."""
    from .run import load_run_spec
    from .run_metrics import evaluate_metrics

    spec = load_run_spec(args.run_dir)
    found = evaluate_metrics(args.run_dir, args.metric, _device(args.device))
    report = {"run": str(args.run_dir), "model": spec.model, "data": spec.data.type,
              "metrics": found}  # fmt: skip
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    _out(f"{args.run_dir}: {spec.model} on {spec.data.type}")
    for name, entry in found.items():
        changed = {k: v for k, v in entry["params"].items() if k != "type"}
        _out(f"  {name}  ({', '.join(f'{k}={v}' for k, v in changed.items())})")
        for score, value in entry["scores"].items():
            _out(f"    {score:<22} {value:10.4f}")
    return 0


def _print_report(r: dict[str, Any], likelihood: str, loss_note: str) -> None:
    _out(
        f"{r['run']}: {r['model']} on {r['data']}, {r['examples']} test examples, nats per example"
    )
    if "negative_elbo" in r:
        _out(f"  negative ELBO     {r['negative_elbo']:10.4f}   (reconstruction + KL)")
        _out(f"    reconstruction  {r['reconstruction']:10.4f}")
        _out(f"    KL              {r['kl']:10.4f}")
        if "iw_nll" in r:
            _out(f"  -log p(x), IW     {r['iw_nll']:10.4f}   (K = {r['iw_samples']})")
    else:
        _out(f"  reconstruction    {r['reconstruction']:10.4f}")
    if "test_loss" in r:  # what training printed: say how it relates to the bound above
        _out(f"  training loss     {r['test_loss']:10.4f}   (its last test loss in training)")
        _out(f"    {loss_note.strip().removeprefix('(').removesuffix(')')}")
    _out(f"  active units      {r['active_units']:>10} of {r['latent_units']}")
    if not r["normalized"]:
        _out(f"  note: the {likelihood} likelihood drops its normalising constant, so these are "
             "not log-densities; compare them only with runs of the same likelihood")  # fmt: skip


# --- sample and reconstruct ----------------------------------------------------------------


_MAX_GRID = 1024
"""The most images genkit sample and reconstruct put in one grid: more cannot be looked at
(-n 100000 wrote a 274 x 425,002 pixel PNG); draw more in Python with ``model.sample(n)``."""


@_command("sample", "draw samples from a trained model and save them as an image grid")
def _sample(args: argparse.Namespace) -> int:
    from .images import as_images, sample_grid, save_grid
    from .run import load_run

    model = load_run(args.run_dir, device=_device(args.device), prior=args.prior)
    if not model.can_sample:
        raise RunError(
            f"{args.run_dir} is an autoencoder without a prior to sample from; use genkit "
            "reconstruct, or train it with a prior fitted after training (prior: {type: "
            "code_gaussian}) or as a vae"
        )
    _check_sample_args(args, model)
    grid = sample_grid(
        model, n=args.n or 64, per_class=args.n or 8, label=args.label, nrow=args.nrow,
        seed=args.seed, mean=not args.draw,
    )  # fmt: skip
    images = _images_or_fail(as_images(grid.x, model.data_info.shape))
    suffix = f"_label{args.label}" if args.label is not None else ""
    suffix += f"_{args.prior}" if args.prior is not None else ""
    out = args.output or Path(args.run_dir) / f"sample{suffix}.png"
    save_grid(Path(out), images, nrow=grid.nrow)
    per_class = " (one row per class)" if grid.labels is not None and args.label is None else ""
    _out(f"wrote {out}{per_class}")
    return 0


def _check_sample_args(args: argparse.Namespace, model: Any) -> None:
    """Refuse what :func:`~genkit_core.images.sample_grid` cannot draw, in the command's terms.

    A cvae of classes without ``--label`` draws ``-n`` (default 8) of each class, a row each,
    as ``samples.png`` shows it.
    """
    classes = model.data_info.num_classes
    if args.label is not None:
        if model.conditioner is None or classes is None:
            raise RunError(
                f"--label needs a cvae trained on class labels; {args.run_dir} is "
                f"{with_article(model.kind)}{'' if classes else ' without class labels'}"
            )
        if not 0 <= args.label < classes:
            raise RunError(
                f"--label {args.label} is out of range: the classes are 0 to {classes - 1}"
            )
        _grid_size(args.n or 64, f"-n {args.n}")
    elif model.conditioner is None:
        _grid_size(args.n or 64, f"-n {args.n}")
    elif classes is None:
        raise RunError(
            f"{args.run_dir} is a cvae conditioned on vectors, so genkit sample has no condition "
            "to draw with; genkit report conditions on a test example, and in Python "
            "load_run(RUN).sample(n, labels=conditions) takes your own"
        )
    else:
        per_class = args.n or 8
        _grid_size(per_class * classes, f"-n {per_class} of each of {classes} classes")


def _grid_size(n: int, what: str) -> int:
    if n > _MAX_GRID:
        raise RunError(
            f"{what}: {n} images are more than the {_MAX_GRID} one grid can show; draw more in "
            "Python: genkit_core.run.load_run(RUN).sample(n)"
        )
    return n


@_command("reconstruct", "save test images beside their reconstructions")
def _reconstruct(args: argparse.Namespace) -> int:
    import torch

    from .data import as_float, load_data
    from .images import as_images, reconstruction_pairs, save_grid
    from .run import load_run

    model = load_run(args.run_dir, device=_device(args.device))
    device = next(model.parameters()).device
    assert model.spec is not None  # load_run builds the model from the run's spec
    test = load_data(model.spec).test
    n = _grid_size(args.n, f"-n {args.n}")
    x = as_float(torch.as_tensor(test.x[:n])).to(device)
    y = (
        None
        if test.y is None or model.conditioner is None
        else torch.as_tensor(test.y[:n]).to(device)
    )
    pairs = reconstruction_pairs(model, x, y)
    out = args.output or Path(args.run_dir) / "reconstruct.png"
    save_grid(Path(out), _images_or_fail(as_images(pairs, model.data_info.shape)), nrow=16)
    _out(f"wrote {out} (each input followed by its reconstruction)")
    return 0


def _images_or_fail(images: Any) -> Any:
    if images is None:
        raise RunError("this data is not images (nor flat squares), so there is no picture to draw")
    return images


@_command("fit-prior", "fit a sampler to a trained run's codes, stored in RUN/priors/NAME")
def _fit_prior(args: argparse.Namespace) -> int:
    from .fitted_priors import fit_prior

    where = fit_prior(
        args.run_dir, args.prior, args.name, _device(args.device), overwrite=args.overwrite
    )
    _out(f"wrote {where}; draw from it with genkit sample {args.run_dir} --prior {where.name}")
    return 0


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
    from .docstrings import one_line_summary
    from .registry import get_registry

    registry = get_registry()
    components = registry.components()
    if args.json:
        problems = [
            {"plugin": p.plugin, "package": p.package, "problem": p.message}
            for p in registry.problems
        ]
        listed = [
            {"kind": c.kind, "name": c.name, "package": c.package or c.plugin, "summary": c.summary}
            for c in components
        ]
        print(json.dumps({"components": listed, "problems": problems}, indent=2))
        return 0
    # the table's summaries stop at 100 characters, between words, never inside a formula
    rows = [
        (c.kind, c.name, c.package or c.plugin, one_line_summary(c.cls, width=100))
        for c in components
    ]
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


@_command("schema", "print the JSON Schema of specs or sweep files (every plugin included)")
def _schema(args: argparse.Namespace) -> int:
    from .spec import spec_model

    schema = spec_model().model_json_schema()
    if args.what == "sweep":
        from .sweep import sweep_schema

        schema = sweep_schema(schema)
    text = json.dumps(schema, indent=2)
    if args.output:
        atomic_write(args.output, (text + "\n").encode())
        _out(f"wrote {args.output}")
    else:
        print(text)
    return 0


@_command("validate", "check a spec or sweep file: ok, or every error with its field's path")
def _validate(args: argparse.Namespace) -> int:
    from .build import build_model
    from .spec import SpecValidationError, load_spec, read_spec_file
    from .spec.files import STDIN_NAME

    _warn_plugin_problems()
    try:
        # a sweep file is told by its base: section; a pipe can be read once, so it is a spec
        if Path(args.spec).is_file() and "base" in read_spec_file(args.spec):
            return _validate_sweep(args)
        spec = load_spec(args.spec, args.set)
    except SpecValidationError as exc:
        for (field, message), origin in zip(exc.errors, exc.sources, strict=True):
            line = f"{origin}: {field + ': ' if field else ''}{message}"
            print(one_line(line), file=sys.stderr)
        return 1
    if args.data:
        from .data import load_resolved_data

        # what training does before its first step: load, check the splits, build, check support
        spec, data = load_resolved_data(spec)
        model = build_model(spec, data.info, device="meta")
        model.check_support(data)
        looked = f"data loaded and checked: {len(data.train):,} train, {len(data.test):,} test"
    else:
        model = build_model(spec, device="meta")
        looked = "data not loaded; --data loads and checks it as training would"
    count = sum(p.numel() for p in model.parameters())
    name = STDIN_NAME if args.spec == "-" else args.spec
    _out(f"{name}: ok ({spec.model}, latent_dim {spec.latent_dim}, {count:,} parameters; {looked})")
    return 0


def _validate_sweep(args: argparse.Namespace) -> int:
    from .sweep import load_sweep

    if args.set:
        raise RunError(f"{args.spec} is a sweep file; --set changes specs, so edit its base")
    if args.data:
        raise RunError(f"{args.spec} is a sweep file; --data loads a spec's data, not a sweep's")
    sweep = load_sweep(args.spec)
    trials = sum(plan.budget for plan in sweep.studies())
    base = f"{sweep.defaults['model']} on {sweep.defaults['data']['type']}"
    _out(f"{args.spec}: ok (sweep {sweep.name}: {trials} trials of a {base})")
    return 0


# --- sweep ---------------------------------------------------------------------------------


@_command("sweep", "run a grid or search of specs on Optuna, each trial a run directory")
def _sweep(args: argparse.Namespace) -> int:
    from .sweep import run_sweep
    from .sweep.storage import show_url

    _warn_plugin_problems()
    stream = None if args.quiet else sys.stderr
    typed = " ".join(shlex.quote(show_url(a)) for a in args.argv)  # as typed, password masked
    result = run_sweep(
        args.sweep, args.output, args.workers, args.storage, stream, f"genkit {typed}"
    )
    _out(f"sweep in {result.directory}: {result.counts}")
    if result.best is not None:
        _out(f"best: {result.best[0]} ({result.best[1]:.4f})")
    if result.orphaned or result.counts.left:
        raise RunError(
            f"{result.orphaned + result.counts.left} trials did not finish (a worker died); run "
            f"the same command again to finish them"
        )
    if result.failed:
        name, error = result.failed[0]
        more = f" (and {len(result.failed) - 1} more; see {result.directory}/logs)"
        again = (
            f"; {result.retriable} of them failed for a cause that may pass (a full disk, a "
            "damaged file): once it is gone, the same command runs them again"
        )
        raise RunError(
            f"trial {name} failed: {error}"
            + (more if len(result.failed) > 1 else "")
            + (again if result.retriable else "")
        )
    return 0


# --- compare -------------------------------------------------------------------------------


@_command("compare", "compare runs: a table of configurations over seeds, and compare.html")
def _compare(args: argparse.Namespace) -> int:
    from .compare import (
        COMPARE_PAGE,
        collect,
        columns,
        pruned_runs,
        pruned_text,
        rows,
        to_csv,
        to_json,
        to_text,
        write_compare_page,
    )

    device = _device(args.device)
    found, reference = collect(args.runs, args.iw_samples, device, metrics=args.metric)
    pruned = pruned_runs(args.runs)
    names = columns(found)
    table = rows(found, names, args.sort)
    outputs = {"csv": to_csv(table, names), "json": to_json(table, names, reference, pruned)}
    to_stdout = [fmt for fmt in outputs if getattr(args, fmt) == "-"]
    if not to_stdout:
        _out(to_text(table, names, reference))
        if pruned:
            _out(pruned_text(pruned))
    for fmt, text in outputs.items():
        target = getattr(args, fmt)
        if target == "-":
            sys.stdout.write(text)
        elif target is not None:
            atomic_write(Path(target), text.encode())
            _out(f"wrote {target}")
    if not args.no_page:
        default = args.runs[0] / COMPARE_PAGE if _one_directory(args.runs) else Path(COMPARE_PAGE)
        page = write_compare_page(table, names, reference, args.output or default, device, pruned)
        print(f"wrote {page}", file=sys.stderr if to_stdout else sys.stdout)
    return 0


def _one_directory(paths: list[Path]) -> bool:
    """One directory of runs (a sweep's -o), which is where its page belongs."""
    from .run import SPEC

    return len(paths) == 1 and paths[0].is_dir() and not (paths[0] / SPEC).is_file()


# --- the parser ----------------------------------------------------------------------------


def _device(requested: str) -> str:
    from .devices import resolve_device

    return resolve_device(requested, "--device")


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
    p.add_argument(
        "spec", nargs="?", help="spec file (YAML, JSON or TOML); - reads it from standard input"
    )
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
    _iw_samples_argument(p)
    p.add_argument("--batch-size", type=_positive, default=500, help="test examples per batch")
    p.add_argument("--max-batch", type=_positive, default=1 << 15,
                   help="bound on examples x samples per decoder call (memory)")  # fmt: skip
    p.add_argument("--metric", action="append", default=[], metavar="NAME|SPEC",
                   help="compute a metric instead (repeatable): its name, e.g. mig, or its spec, "
                   "e.g. '{type: dci, num_train: 2000}'; kept in RUN/eval.json")  # fmt: skip

    p = parsers["sample"]
    p.add_argument("run_dir", type=Path)
    p.add_argument(
        "-n",
        type=_positive,
        help=f"how many samples (default 64, at most "
        f"{_MAX_GRID}); a cvae without --label: of each class, a row each (default 8)",
    )
    p.add_argument("--label", type=int, help="class to sample (cvae)")
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        help="PNG file (default: RUN_DIR/sample.png, or sample_labelN.png)",
    )
    p.add_argument("--nrow", type=_positive, default=8, help="images per row")
    p.add_argument(
        "--draw", action="store_true", help="draw from the likelihood instead of its mean"
    )
    p.add_argument("--prior", metavar="NAME",
                   help="draw from the prior fitted under NAME (genkit fit-prior)")  # fmt: skip

    p = parsers["fit-prior"]
    p.add_argument("run_dir", type=Path)
    p.add_argument("--prior", required=True, metavar="NAME|SPEC",
                   help="the prior: its name, e.g. code_maf, or its spec, e.g. "
                   "'{type: code_diffusion, epochs: 50}'")  # fmt: skip
    p.add_argument("--name", help="its directory under RUN/priors/ (default: its type)")
    p.add_argument("--overwrite", action="store_true", help="fit again a prior of that name")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")

    p = parsers["reconstruct"]
    p.add_argument("run_dir", type=Path)
    p.add_argument("-n", type=_positive, default=32, help="how many test images (default 32)")
    p.add_argument("-o", "--output", type=Path, help="PNG file (default: RUN_DIR/reconstruct.png)")

    p = parsers["report"]
    p.add_argument("run_dir", type=Path)
    p.add_argument("-o", "--output", type=Path, help="HTML file (default: RUN_DIR/report.html)")
    _iw_samples_argument(p)

    p = parsers["plot"]
    p.add_argument("run_dir", type=Path)
    p.add_argument("figure", choices=["latent", "curves", "interpolate", "traverse"])
    p.add_argument("-o", "--output", type=Path, help="PNG file (default: in the run directory)")

    p = parsers["sweep"]
    p.add_argument("sweep", help="sweep file (YAML, JSON or TOML): base, grid, search")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="DIR",
                   help="where the trials' run directories go (run again to continue)")  # fmt: skip
    p.add_argument("--workers", type=_positive, default=1, metavar="N",
                   help="processes on this machine, spread over the GPUs (default 1)")  # fmt: skip
    p.add_argument("--storage", metavar="URL",
                   help="an Optuna database URL (postgresql://..., sqlite:///...) shared by "
                   "workers on several machines (default: a journal file in DIR)")  # fmt: skip
    p.add_argument("-q", "--quiet", action="store_true", help="print no progress")

    p = parsers["compare"]
    p.add_argument("runs", nargs="+", type=Path, metavar="DIR|RUN",
                   help="run directories, or directories of runs (a sweep's -o)")  # fmt: skip
    p.add_argument("-o", "--output", type=Path, metavar="FILE.html",
                   help="the page (default: DIR/compare.html, or ./compare.html)")  # fmt: skip
    p.add_argument("--csv", metavar="FILE", help="write the table as CSV (- for stdout)")
    p.add_argument("--json", metavar="FILE", help="write the table as JSON (- for stdout)")
    p.add_argument("--no-page", action="store_true", help="write no compare.html")
    p.add_argument("--sort", metavar="COLUMN",
                   help="sort by a column, e.g. negative_elbo (--sort -COLUMN: descending); "
                   "default: IW NLL, else negative ELBO, else test loss")  # fmt: skip
    p.add_argument("--iw-samples", type=_nonnegative, default=100, metavar="K",
                   help="importance samples for -log p(x) (default 100)")  # fmt: skip
    p.add_argument("--metric", action="append", default=[], metavar="NAME|SPEC",
                   help="also a metric's scores as columns <metric>.<score> (repeatable; scores "
                   "kept in a run's eval.json are shown without it)")  # fmt: skip
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")

    parsers["plugins"].add_argument("--json", action="store_true", help="print as JSON")
    p = parsers["describe"]
    p.add_argument("kind", help="encoder, decoder, prior, likelihood, data, ... (genkit plugins)")
    p.add_argument("name", nargs="?", help="the component (default: every one of the kind)")
    parsers["schema"].add_argument("what", nargs="?", choices=["spec", "sweep"], default="spec",
                                   help="spec files (default) or sweep files")  # fmt: skip
    parsers["schema"].add_argument("-o", "--output", type=Path, help="write to a file")
    p = parsers["validate"]
    p.add_argument("spec", help="spec file (YAML, JSON or TOML); - reads it from standard input")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--data", action="store_true",
                   help="also load the data (downloading it if the spec says download: true) "
                   "and check it as training does before its first step")  # fmt: skip

    for name in ("eval", "sample", "reconstruct"):
        parsers[name].add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
        parsers[name].add_argument("--seed", type=int, default=0, help="seed of the noise")
    for name in ("report", "plot"):
        parsers[name].add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    for name in _READS_RUNS:
        parsers[name].add_argument(
            "--trust-plugins", action="store_true",
            help="import the modules a run's spec.yaml names in plugins: (runs their code)",
        )  # fmt: skip
    return parser


def _iw_samples_argument(parser: argparse.ArgumentParser) -> None:
    from .evaluation import DEFAULT_IW_SAMPLES  # evaluation imports torch: only when parsing

    parser.add_argument(
        "--iw-samples", type=_nonnegative, default=DEFAULT_IW_SAMPLES, metavar="K",
        help=f"importance samples for -log p(x) (0 skips it; default {DEFAULT_IW_SAMPLES}, "
        "the same for genkit eval and genkit report)",
    )  # fmt: skip


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


def _report(exc: GenkitError, label: str) -> None:
    """Print an error as one line; under torchrun, with its rank, or from rank 0 alone when
    every rank raised it together.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        print(f"genkit: {label}{exc}", file=sys.stderr)
    elif not _raised_on_every_rank(exc):
        print(f"genkit: {label}[rank {os.environ.get('RANK', '?')}] {exc}", file=sys.stderr)
    elif _is_main_process():
        print(f"genkit: {label}{exc}", file=sys.stderr)


def _raised_on_every_rank(exc: GenkitError) -> bool:
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    from .training.distributed import is_raised_on_every_rank

    return is_raised_on_every_rank(exc)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``genkit`` command line; return the exit status.

    Output piped into a reader that stops early (``genkit plugins | head -3``) ends the command
    quietly with the shell's status for SIGPIPE, 141, as ``cat`` or ``ls`` would end.
    """
    try:
        with _one_line_warnings():
            return _main(argv)
    except BrokenPipeError:
        # Python flushes stdout again at exit; point it at /dev/null so that flush is silent
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 141  # 128 + SIGPIPE


_DRAWING = frozenset(
    {"train", "eval", "sample", "reconstruct", "fit-prior", "report", "plot", "sweep"}
)
"""The commands that run models and may draw images or read data with torchvision."""


_DASH_VALUES = ("--sort",)
"""Options whose value may begin with ``-`` (``--sort -test_loss``: descending)."""


def _attach_dash_values(argv: list[str]) -> list[str]:
    """``--sort -COLUMN`` as ``--sort=-COLUMN``: argparse reads a value that begins with
    ``-`` and is not a number as the next option, and fails with "expected one argument".
    """
    out: list[str] = []
    for arg in argv:
        if out and out[-1] in _DASH_VALUES and arg.startswith("-") and arg != "--":
            out[-1] = f"{out[-1]}={arg}"
        else:
            out.append(arg)
    return out


@contextlib.contextmanager
def _one_line_warnings() -> Iterator[None]:
    """Show a :class:`GenkitWarning` as ``genkit: warning: ...``, one line without Python's
    file and source line; other warnings as Python shows them.
    """
    shown_before = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], *rest: Any, **kw: Any) -> None:
        if issubclass(category, GenkitWarning):
            print(f"genkit: warning: {one_line(str(message))}", file=sys.stderr)
        else:
            shown_before(message, category, *rest, **kw)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = shown_before


def _main(argv: Sequence[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(_attach_dash_values(argv))
    args.argv = argv  # the command as typed: genkit sweep repeats it in its hint after Ctrl-C
    keep_freed_memory()  # the command owns its process: large CPU tensors reuse freed memory
    command, _ = _COMMANDS[args.command]
    together = False  # whether every torchrun process ends the command here too
    try:
        if args.command in _DRAWING:
            from .install import check_torch_pair

            check_torch_pair()  # now, not when the first image is drawn an epoch later
        with _plugin_imports(args):
            status = command(args)
        together = True
        return status
    except GenkitError as exc:
        together = _raised_on_every_rank(exc)
        if args.traceback:
            raise
        from .training import TrainingInterrupted

        interrupted = isinstance(exc, TrainingInterrupted)
        status = exc.exit_status if isinstance(exc, TrainingInterrupted) else 1
        _report(exc, "" if interrupted else "error: ")
        return status
    except KeyboardInterrupt:
        print("genkit: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # a path the user gave: too long, below a file, read-only
        error = path_error(exc)
        if error is None or args.traceback:
            raise
        _report(error, "error: ")
        return 1
    finally:
        _leave_process_group(together)


_READS_RUNS = ("eval", "sample", "reconstruct", "fit-prior", "report", "plot", "compare")
"""The verbs that read run directories, which may come from anyone (docs/reliability.md)."""


def _plugin_imports(args: argparse.Namespace) -> contextlib.AbstractContextManager[None]:
    """For the verbs that read runs: import no module a run's ``plugins:`` names unless the
    user passed ``--trust-plugins``; installed plugins load as always.
    """
    if args.command not in _READS_RUNS or args.trust_plugins:
        return contextlib.nullcontext()
    from .registry import get_registry

    fix = "if you trust where the run came from, pass --trust-plugins (or install the plugin)"
    return get_registry().refusing_imports(fix)


def _leave_process_group(together: bool) -> None:
    """End this process's part in a torchrun group; see ``leave_process_group``."""
    distributed = sys.modules.get(f"{__package__}.training.distributed")
    if distributed is not None:  # nothing to leave in a command that never imported it
        distributed.leave_process_group(wait=together)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
