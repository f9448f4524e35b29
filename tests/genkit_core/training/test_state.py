"""Nested training state to safetensors and back, without pickle."""

from __future__ import annotations

import torch

from genkit_core.files import read_tensors, write_tensors
from genkit_core.training.state import flatten, unflatten


def test_an_optimizer_state_round_trips_through_safetensors(tmp_path):
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1, betas=(0.8, 0.9))
    model(torch.randn(4, 3)).sum().backward()
    optimizer.step()
    state = {
        "optimizer": optimizer.state_dict(),
        "rng": torch.get_rng_state(),
        "tuple": (1, 2.5, None),
    }
    tensors, skeleton = flatten(state, "s")
    write_tensors(tmp_path / "c.safetensors", tensors, {"skeleton": skeleton})
    loaded, meta = read_tensors(tmp_path / "c.safetensors")
    restored = unflatten(meta["skeleton"], loaded)
    assert restored["tuple"] == (1, 2.5, None)
    assert torch.equal(restored["rng"], state["rng"])
    fresh = torch.optim.Adam(torch.nn.Linear(3, 2).parameters(), lr=1.0)
    fresh.load_state_dict(restored["optimizer"])
    assert fresh.param_groups[0]["betas"] == (0.8, 0.9)
    assert set(fresh.state_dict()["state"]) == {0, 1}  # int keys kept
    for key, value in optimizer.state_dict()["state"][0].items():
        assert torch.equal(fresh.state_dict()["state"][0][key], value)
