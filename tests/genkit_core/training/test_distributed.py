"""Data-parallel training: sharding arithmetic in process, and torchrun runs of 2 CPU processes.

The torchrun tests start ``python -m torch.distributed.run --standalone --nproc_per_node=2`` (gloo
on 127.0.0.1, a free port) and check against a single process trained in this one with the same
global batch and seed. The two cannot agree bit for bit: DDP averages two half-batch gradients
where the single process sums one batch, so float32 rounding differs in the last bit of each
step; after the ~10-100 Adam steps here the weights differ by ~1e-7 (values ~0.5), and the
tolerance of 1e-6 is 10x that, while a run with another global batch differs by ~1e-3.
"""

from __future__ import annotations

import csv
import math
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from genkit_core.data.batches import (
    InMemoryBatches,
    StreamedBatches,
    eval_batches,
    shard_rows,
)
from genkit_core.errors import RunError, SpecError
from genkit_core.files import read_tensors
from genkit_core.interfaces import Split
from genkit_core.model import LatentVariableModel
from genkit_core.training import Trainer, TrainingInterrupted
from genkit_core.training.distributed import AgreedFlag, Distributed, setup_distributed

ATOL = 1e-6
PER_RANK = 10
GLOBAL = 2 * PER_RANK
N_TRAIN = 101  # 5 full global batches, then 1 row: rank 0 takes it (weight 2), rank 1 none

# --- sharding, in process ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "world"),
    [
        pytest.param(20, 2, id="full-2"),
        pytest.param(7, 2, id="partial-odd"),
        pytest.param(1, 2, id="fewer-rows-than-ranks"),
        pytest.param(10, 4, id="uneven-4"),
        pytest.param(3, 8, id="mostly-empty-8"),
    ],
)
def test_shard_rows_tile_the_batch_in_order_and_balanced(size: int, world: int) -> None:
    shares = [shard_rows(size, world, r) for r in range(world)]
    rows = [i for lo, hi in shares for i in range(lo, hi)]
    assert rows == list(range(size))
    sizes = [hi - lo for lo, hi in shares]
    assert max(sizes) - min(sizes) <= 1
    if size % world == 0:
        b = size // world
        assert shares == [(r * b, (r + 1) * b) for r in range(world)]


def test_eval_batches_give_every_batch_to_one_rank() -> None:
    n, e, world = 50, 16, 3
    shares = [list(eval_batches(n, e, world, r)) for r in range(world)]
    assert [j for s in shares for j in s] == list(range(math.ceil(n / e)))


def _union_of_ranks(make: Any, order: torch.Tensor, world: int) -> list[list[int]]:
    """Per step, the rows all ranks take together (in rank order), read back from the data."""
    per_rank = [[x[:, 0].long().tolist() for x, _ in make(r).epoch(order)] for r in range(world)]
    return [[i for rows in step for i in rows] for step in zip(*per_rank, strict=True)]


@pytest.mark.parametrize(
    "streamed", [pytest.param(False, id="in-memory"), pytest.param(True, id="streamed")]
)
def test_ranks_together_take_the_single_process_batches(streamed: bool) -> None:
    n = N_TRAIN
    x = torch.arange(n, dtype=torch.float32).reshape(n, 1)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(3))

    def make(rank: int, world: int = 2, batch: int = PER_RANK) -> Any:
        if streamed:
            return StreamedBatches(
                Split(x, None), False, batch, torch.device("cpu"), 0, world, rank
            )
        return InMemoryBatches(x, None, batch, world, rank)

    alone = [b[0][:, 0].long().tolist() for b in make(0, world=1, batch=GLOBAL).epoch(order)]
    assert _union_of_ranks(make, order, 2) == alone
    assert alone[-1] == [int(order[-1])]  # the last global batch is one row: rank 1 gets none
    last = list(make(1).epoch(order))[-1]
    assert last[0].shape == (0, 1)


class _Rows(torch.utils.data.Dataset):
    """A map-style dataset (the path a folder of images takes), row i holding the value i."""

    def __len__(self) -> int:
        return N_TRAIN

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.tensor([float(i)]), torch.tensor(0)


def test_a_streamed_dataset_gives_an_empty_batch_to_a_rank_with_no_rows() -> None:
    order = torch.randperm(N_TRAIN, generator=torch.Generator().manual_seed(3))

    def make(rank: int) -> StreamedBatches:
        return StreamedBatches(
            Split(_Rows(), None), False, PER_RANK, torch.device("cpu"), 0, 2, rank
        )

    steps = _union_of_ranks(make, order, 2)
    assert [len(s) for s in steps] == [GLOBAL] * 5 + [1]
    assert sorted(i for s in steps for i in s) == list(range(N_TRAIN))


def test_loss_weights_make_the_mean_of_rank_gradients_the_global_batch_gradient(
    spec_dict: Any,
) -> None:
    """DDP's identity for a partial batch: (1/W) sum_r (W n_r / n) grad mean_r = grad mean."""
    from genkit_core.build import build_model
    from genkit_core.data import load_data
    from genkit_core.spec import load_spec

    spec = load_spec(spec_dict())
    data = load_data(spec)
    model: LatentVariableModel = build_model(spec, data.info)
    x, eps = data.train.x[:7], torch.randn(7, spec.latent_dim)

    def grads(rows: slice, weight: float) -> list[torch.Tensor]:
        model.zero_grad()
        (model(x[rows], None, eps[rows]).loss * weight).backward()
        return [p.grad.clone() for p in model.parameters()]

    world = 3
    shards = [slice(*shard_rows(7, world, r)) for r in range(world)]
    weights = [world * (s.stop - s.start) / 7 for s in shards]
    averaged = [sum(g) / world for g in zip(*map(grads, shards, weights), strict=True)]
    for got, want in zip(averaged, grads(slice(0, 7), 1.0), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)
    empty = grads(slice(7, 7), 0.0)  # a rank with no rows: zero gradients, no nan
    assert all(torch.equal(g, torch.zeros_like(g)) for g in empty)


def test_alone_every_collective_is_the_identity() -> None:
    alone = Distributed()
    values = torch.tensor([1.0, 2.0])
    assert alone.all_sum(values) is values
    assert alone.broadcast("x") == "x"
    assert alone.first(None) == (0, None)
    assert AgreedFlag(alone).poll(True) is True


@pytest.mark.parametrize(
    ("device", "env", "error", "match"),
    [
        pytest.param("mps", {}, SpecError, "CUDA .NCCL. or the CPU .gloo.", id="mps"),
        pytest.param(
            "cuda:1", {"LOCAL_WORLD_SIZE": "2"}, SpecError, "would put all 2 processes", id="cuda-n"
        ),
        pytest.param(
            "cuda",
            {"LOCAL_WORLD_SIZE": "2"},
            RunError,
            "1 visible GPU; pass --nproc_per_node=1",
            id="more-processes-than-gpus",
        ),
    ],
)
def test_a_device_processes_cannot_share_is_refused(
    monkeypatch: pytest.MonkeyPatch, device: str, env: dict[str, str], error: type, match: str
) -> None:
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    for key, value in {"WORLD_SIZE": "2", "LOCAL_RANK": "1", **env}.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(error, match=match):
        setup_distributed(device)


def test_a_mid_epoch_checkpoint_is_not_resumed_with_another_global_batch(
    tmp_path: Path, spec_dict: Any
) -> None:
    trainer = Trainer(spec_dict(), tmp_path / "run", stream=None)
    trainer.signals.requested = True  # as if Ctrl-C came during the first step
    with pytest.raises(TrainingInterrupted):
        trainer.fit()
    resumed = Trainer(None, tmp_path / "run", resume=True, overrides=["train.batch_size=16"])
    with pytest.raises(RunError, match=r"global batch of 32.*train.batch_size=32"):
        resumed.fit()


# --- torchrun ---------------------------------------------------------------------------------

SPEC: dict[str, Any] = {
    "model": "vae",
    "latent_dim": 4,
    "data": {"type": "digits", "max_train": N_TRAIN, "max_test": 50},
    "encoder": {"type": "mlp", "hidden": [16]},
    "decoder": {"type": "mlp", "hidden": [16]},
    "likelihood": {"type": "bernoulli"},
    "train": {
        "epochs": 2, "batch_size": PER_RANK, "eval_batch_size": 16, "seed": 0, "device": "cpu",
        "progress": False,
    },
}  # fmt: skip


def _spec(**train: Any) -> dict[str, Any]:
    return {**SPEC, "train": {**SPEC["train"], **train}}


def _write(path: Path, spec: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(spec))
    return path


def _torchrun(
    *args: str,
    cwd: Path,
    options: tuple[str, ...] = ("--standalone", "--nproc_per_node=2"),
    **env: str,
) -> subprocess.Popen[str]:
    """Start ``torchrun OPTIONS ARGS`` (by default 2 processes on localhost, a free port)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
    command = [sys.executable, "-m", "torch.distributed.run", *options]
    return subprocess.Popen(
        [*command, *args], cwd=cwd, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip


def _finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str]:
    """Wait for torchrun; on a hang, stop it (it stops its workers) and fail with its output."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()  # torchrun passes SIGTERM on to its workers, then kills them
        try:
            out, err = proc.communicate(timeout=45)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        pytest.fail(f"torchrun hung for {timeout} s:\n{out}\n{err}")
    return proc.returncode, out + err


def _genkit(*args: str, cwd: Path, ok: bool = True) -> str:
    status, output = _finish(_torchrun("-m", "genkit_core", *args, cwd=cwd))
    assert (status == 0) == ok, output
    return output


def _train_alone(run_dir: Path, **train: Any) -> Path:
    Trainer(_spec(**train), run_dir, stream=None).fit()
    return run_dir


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return read_tensors(run_dir / "model.safetensors")[0]


def _assert_same_weights(got: Path, want: Path) -> None:
    a, b = _weights(got), _weights(want)
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=ATOL, msg=name)


def _metrics(run_dir: Path) -> list[dict[str, float]]:
    with (run_dir / "metrics.csv").open(newline="") as f:
        return [
            {k: float(v) for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)
        ]


def _assert_same_metrics(got: Path, want: Path) -> None:
    a, b = _metrics(got), _metrics(want)
    assert [r["step"] for r in a] == [r["step"] for r in b]
    for row_a, row_b in zip(a, b, strict=True):
        assert row_a == pytest.approx(row_b, rel=1e-6)


@pytest.mark.slow
def test_two_processes_train_like_one_and_resume_exactly_after_ctrl_c(tmp_path: Path) -> None:
    spec = _write(tmp_path / "tiny.yaml", _spec(epochs=100_000))
    run = tmp_path / "runs" / "tiny"  # the default run directory, named by rank 0 for every rank
    proc = _torchrun("-m", "genkit_core", "train", str(spec), cwd=tmp_path)
    deadline = time.monotonic() + 90
    while not (run / "metrics.csv").is_file() and proc.poll() is None:
        assert time.monotonic() < deadline, "training did not start"
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends torchrun; it passes it to the workers
    status, output = _finish(proc)
    assert status != 0
    assert f"global batch {GLOBAL}" in output
    assert output.count("interrupted at step") == 1, output  # every rank stopped; rank 0 says so
    position = read_tensors(run / "checkpoint.safetensors")[1]["position"]
    epochs = position["epoch"] + 1 + (position["batch"] > 0)  # the cut epoch, and one more

    output = _genkit("train", "--resume", str(run), "--set", f"train.epochs={epochs}", cwd=tmp_path)
    assert output.count(f"trained vae in {run}") == 1
    alone = _train_alone(tmp_path / "alone", batch_size=GLOBAL, epochs=epochs)
    _assert_same_weights(run, alone)
    _assert_same_metrics(run, alone)  # train sums and the sharded evaluation, reduced
    other = _weights(_train_alone(tmp_path / "other", batch_size=PER_RANK, epochs=epochs))
    assert max((other[k] - _weights(alone)[k]).abs().max() for k in other) > 100 * ATOL


_SCRIPT = '''
import os, sys
import torch
from genkit_core import Component, DataBundle, DataError, Split
from genkit_core.cli import main
from genkit_core.registry import get_registry
from genkit_core.data.batches import shard_rows
from genkit_plugins.data.digits import Digits

class Rigged(Digits):
    """Digits rigged per rank: MODE=spike makes rank 1's first row overflow the loss;
    MODE=fail makes the data unreadable on rank 1 alone; MODE=full fills rank 0's disk."""

    def load(self):
        if os.environ["MODE"] == "fail" and os.environ["RANK"] == "1":
            raise DataError("data 'rigged': /data/digits.npz is missing on this machine")
        bundle = super().load()
        if os.environ["MODE"] != "spike":
            return bundle
        order = torch.randperm({n}, generator=torch.Generator().manual_seed(0))
        x = bundle.train.x.clone()
        x[order[shard_rows({g}, 2, 1)[0]]] = 1e25  # squared, beyond float32: inf
        return DataBundle(Split(x, bundle.train.y), bundle.test, bundle.info)

get_registry().add(Component("rigged", Rigged))
if os.environ["MODE"] == "full":  # rank 0's disk fills after metrics.csv's first row
    import errno
    from pathlib import Path
    import genkit_plugins.loggers.csv_logger as csv_logger
    from genkit_core.files import append_text, cannot_write

    def append_until_full(path, text, rows=[]):
        rows.append(text)
        if len(rows) > 1:
            raise cannot_write(Path(path), OSError(errno.ENOSPC, "No space left on device"))
        append_text(path, text)

    csv_logger.append_text = append_until_full
sys.exit(main(sys.argv[1:]))
'''


def _rigged(tmp_path: Path, mode: str) -> tuple[int, str, Path]:
    script = tmp_path / "rigged.py"
    script.write_text(_SCRIPT.format(n=N_TRAIN, g=GLOBAL))
    spec = _spec()
    spec = {**spec, "data": {**spec["data"], "type": "rigged"}, "likelihood": {"type": "mse"}}
    run, spec_file = tmp_path / "run", _write(tmp_path / "rigged.yaml", spec)
    proc = _torchrun(str(script), "train", str(spec_file), "-o", str(run), cwd=tmp_path, MODE=mode)
    status, output = _finish(proc)
    return status, output, run


@pytest.mark.slow
def test_a_nonfinite_loss_on_one_rank_stops_every_rank(tmp_path: Path) -> None:
    status, output, run = _rigged(tmp_path, "spike")
    assert status != 0
    assert output.count("training stopped") == 1, output
    assert "became non-finite (nan or inf) at step 0 on rank 1" in output
    tensors, meta = read_tensors(run / "checkpoint.safetensors")
    assert meta["position"]["step"] == 0
    kept = _weights(run)  # the untrained weights of the last good checkpoint
    for name, value in kept.items():
        assert torch.equal(value, tensors[f"model/{name}"])
        assert bool(torch.isfinite(value).all())


@pytest.mark.slow
def test_a_rank_that_fails_takes_the_others_down_with_its_message(tmp_path: Path) -> None:
    status, output, _ = _rigged(tmp_path, "fail")
    assert status != 0
    assert "genkit: error: [rank 1] data 'rigged': /data/digits.npz is missing" in output
    assert "rank      : 1" in output  # torchrun names the first failure


ROOT = Path(__file__).resolve().parents[3]


def _first_doc_command() -> list[str]:
    """The first command of docs/distributed.md: torchrun on examples/vae.yaml as it is."""
    page = (ROOT / "docs" / "distributed.md").read_text()
    block = re.findall(r"```bash\n(.*?)```", page, flags=re.S)[0]
    (line,) = [line for line in block.splitlines() if line.startswith("torchrun ")]
    return shlex.split(line)


@pytest.mark.slow
def test_the_docs_torchrun_command_trains_the_example_like_one_process(tmp_path: Path) -> None:
    """The page's own command, on 2 CPU processes for one epoch, with the example's defaults
    (``train.threads: auto``, ``eval_batch_size`` 1000): the 359 test digits are one batch, so
    rank 1 evaluates nothing, and the test loss must still be the single process's."""
    words = _first_doc_command()
    assert words[0] == "torchrun" and "--nproc_per_node=4" in words
    options = [w.replace("=4", "=2") for w in words[1 : words.index("-m")]]
    command = words[words.index("-m") :]
    assert command[:4] == ["-m", "genkit_core", "train", "examples/vae.yaml"]
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    assert not list(eval_batches(359, 1000, 2, 1))  # rank 1's share of the test set is empty
    run = tmp_path / "runs" / "vae"
    proc = _torchrun(*command, "--set", "train.epochs=1", cwd=tmp_path, options=tuple(options))
    status, output = _finish(proc)
    assert status == 0, output
    assert "Traceback" not in output and "trained vae in runs/vae" in output
    alone = tmp_path / "alone"
    overrides = ["train.epochs=1", "train.batch_size=128"]  # the global batch of 2 x 64
    Trainer(ROOT / "examples" / "vae.yaml", alone, overrides=overrides, stream=None).fit()
    _assert_same_metrics(run, alone)
    _assert_same_weights(run, alone)


@pytest.mark.slow
def test_a_write_that_fails_on_rank_0_stops_every_rank_with_its_one_line(tmp_path: Path) -> None:
    """Rank 0 alone writes; its error (a full disk) must reach the others, which would
    otherwise wait in a collective for it and die with gloo's traceback."""
    status, output, run = _rigged(tmp_path, "full")
    assert status != 0
    assert output.count("metrics.csv: cannot write it (No space left on device)") == 1, output
    assert "[rank1]: Traceback" not in output and "Connection closed by peer" not in output
    assert (run / "metrics.csv").read_text().count("\n") == 2  # the header and epoch 1
