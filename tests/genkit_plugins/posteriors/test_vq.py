"""vq: nearest entries, the straight-through gradient, the commitment term and the EMA codebook,
each against an independent computation; the update's behaviour under capture and DDP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from genkit_core import build_model
from genkit_core.testing import tiny_spec
from genkit_plugins.posteriors.vq import VectorQuantizer, VQParams

GRID = (3, 2, 2)  # the encoder's features: 3 channels on a 2 x 2 grid


def _vq(**params) -> VectorQuantizer:
    torch.manual_seed(0)
    return VectorQuantizer(VQParams(codes=5, **params), GRID, latent_dim=2)


def _settled(vq: VectorQuantizer) -> None:
    """Every entry live (count 1, sum = entry), so an update restarts none of them."""
    vq.cluster_size.fill_(1.0)
    vq.embed_sum.copy_(vq.codebook)


def test_each_cell_takes_its_nearest_entry():
    vq = _vq()
    features = torch.randn(4, *GRID)
    q = vq.eval()(features)
    z_e = q.encoded.movedim(1, -1).detach().numpy().reshape(-1, 2)
    book = vq.codebook.numpy()
    nearest = ((z_e[:, None, :] - book[None]) ** 2).sum(-1).argmin(1)
    np.testing.assert_array_equal(q.indices.flatten().numpy(), nearest)
    np.testing.assert_allclose(
        q.quantized.movedim(1, -1).reshape(-1, 2).numpy(), book[nearest], rtol=0, atol=0
    )
    assert vq.latent_shape == (2, 2, 2)
    assert torch.equal(vq.indices(q.quantized), q.indices)
    assert torch.equal(vq.embed(q.indices), q.quantized)


def test_the_decoder_gets_the_entries_and_the_encoder_their_gradient():
    vq = _vq().eval()
    features = torch.randn(4, *GRID, requires_grad=True)
    q = vq(features)
    draw = vq.sample(q, torch.zeros(4, 0))
    assert torch.allclose(draw.z, q.quantized, atol=1e-6)  # the value: the entries (rounded)
    weights = torch.randn_like(draw.z)
    (draw.z * weights).sum().backward()
    # straight through: d loss / d z_e is d loss / d z, i.e. the weights
    again = features.detach().clone().requires_grad_()
    z_e = vq.project(again.movedim(1, -1)).movedim(-1, 1)
    expected = torch.autograd.grad((z_e * weights).sum(), again)[0]
    assert torch.allclose(features.grad, expected, atol=1e-6)


def test_the_commitment_term_is_beta_times_the_squared_gap_per_example():
    vq = _vq(commitment=0.3).eval()
    q = vq(torch.randn(4, *GRID))
    draw = vq.sample(q, torch.zeros(3, 4, 0))  # three sample rows: the same code each
    gap = (q.encoded - q.quantized).detach().numpy().reshape(4, -1)
    expected = 0.3 * (gap**2).sum(1)
    assert draw.z.shape == (3, 4, 2, 2, 2) and draw.log_q.abs().sum() == 0
    np.testing.assert_allclose(draw.terms["commitment"].detach().numpy(), [expected] * 3, rtol=1e-5)


def test_the_ema_update_follows_the_paper():
    """One training step against appendix A.1 written out in NumPy, Laplace smoothing included."""
    vq = _vq(decay=0.9, epsilon=1e-3, restart_below=1e-9).train()
    _settled(vq)
    size, sums = vq.cluster_size.numpy().copy(), vq.embed_sum.numpy().copy()
    q = vq(torch.randn(4, *GRID))  # training mode with gradients on: updates
    z_e = q.encoded.movedim(1, -1).detach().numpy().reshape(-1, 2)
    idx = q.indices.flatten().numpy()
    counts = np.bincount(idx, minlength=5)
    totals = np.stack([z_e[idx == k].sum(0) for k in range(5)])
    size = 0.9 * size + 0.1 * counts
    sums = 0.9 * sums + 0.1 * totals
    n = size.sum()
    smoothed = (size + 1e-3) / (n + 5 * 1e-3) * n
    np.testing.assert_allclose(vq.cluster_size.numpy(), size, rtol=1e-6)
    np.testing.assert_allclose(vq.embed_sum.numpy(), sums, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(vq.codebook.numpy(), sums / smoothed[:, None], rtol=1e-5)


def test_dead_entries_restart_at_encoder_outputs_and_the_first_step_fills_the_book():
    vq = _vq(restart_below=0.5).train()
    features = torch.randn(6, *GRID)
    q = vq(features)
    z_e = q.encoded.movedim(1, -1).detach().reshape(-1, 2)
    # every count started at 0: every entry restarted at one of the batch's vectors
    assert torch.all(vq.cluster_size == 1.0)
    for entry in vq.codebook:
        assert torch.isclose(z_e, entry, atol=1e-5).all(1).any()


@pytest.mark.parametrize("how", ["eval", "no_grad"])
def test_the_codebook_only_moves_in_training(how):
    vq = _vq()
    before = [b.clone() for b in vq.buffers()]
    if how == "eval":
        vq.eval()(torch.randn(4, *GRID))
    else:
        with torch.no_grad():
            vq.train()(torch.randn(4, *GRID))
    assert all(torch.equal(a, b) for a, b in zip(before, vq.buffers(), strict=True))


def test_the_update_is_in_place_and_reads_nothing_on_the_host():
    """What CUDA-graph capture needs: the buffers keep their storage (a graph replays into them)
    and no value is read on the host. Meta tensors have no values, so an update that ran on
    them read none; the trainer's capture then snapshots and restores these buffers."""
    vq = _vq().train()
    pointers = [b.data_ptr() for b in vq.buffers()]
    vq(torch.randn(4, *GRID))
    assert pointers == [b.data_ptr() for b in vq.buffers()]
    with torch.device("meta"):
        meta = VectorQuantizer(VQParams(codes=5), GRID, latent_dim=2).train()
        meta(torch.randn(4, *GRID))  # .item() or a branch on a value would raise here


def test_a_flat_encoder_gives_one_code_per_example():
    vq = VectorQuantizer(VQParams(codes=4), (16,), latent_dim=3)
    q = vq(torch.randn(5, 16))
    assert vq.latent_shape == (3,) and q.quantized.shape == (5, 3) and q.indices.shape == (5,)


def test_a_decoder_without_shaped_input_gets_the_grid_flattened():
    spec = tiny_spec(
        model="ae",
        encoder={"type": "conv", "channels": [8, 8], "hidden": None, "feature_map": True},
        posterior={"type": "vq", "codes": 8},
        decoder={"type": "mlp", "hidden": [16]},
    )
    model = build_model(spec)
    assert model.posterior.latent_shape == (4, 2, 2)
    assert model.decoder.in_features == 16 and model.decoder.in_shape == (16,)
    assert model.decode(torch.randn(3, 4, 2, 2)).shape == (3, 1, 1, 8, 8)


# --- DDP: two processes keep one codebook -------------------------------------------------

_RANK = textwrap.dedent(
    """
    import os, sys, torch, torch.distributed as dist
    from genkit_plugins.posteriors.vq import VectorQuantizer, VQParams
    rank, world, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(0)
    vq = VectorQuantizer(VQParams(codes=5, restart_below=1e-9), (3, 2, 2), latent_dim=2).train()
    vq.cluster_size.fill_(1.0); vq.embed_sum.copy_(vq.codebook)
    features = torch.randn(8, 3, 2, 2)   # the same global batch on every rank
    share = features.chunk(world)[rank]  # each rank quantises its half
    vq(share)
    torch.save({k: v for k, v in vq.state_dict().items()}, f"{out}/rank{rank}.pt")
    dist.destroy_process_group()
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_ddp_ranks_sum_their_statistics_into_the_single_process_codebook(tmp_path: Path):
    script = tmp_path / "rank.py"
    script.write_text(_RANK)
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(_free_port()),
           "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).parents[3])}  # fmt: skip
    procs = [
        subprocess.Popen([sys.executable, str(script), str(r), "2", str(tmp_path)], env=env)
        for r in range(2)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(2)]
    torch.manual_seed(0)
    single = VectorQuantizer(VQParams(codes=5, restart_below=1e-9), GRID, latent_dim=2).train()
    _settled(single)
    single(torch.randn(8, *GRID))
    for name in ("cluster_size", "embed_sum", "codebook"):
        assert torch.equal(ranks[0][name], ranks[1][name]), name
        assert torch.allclose(ranks[0][name], getattr(single, name), atol=1e-6), name
