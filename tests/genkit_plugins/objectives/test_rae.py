"""rae: the RAE-L2 loss against a direct computation, and the models it refuses."""

from __future__ import annotations

import pytest
import torch

from genkit_core import SpecError, build_model
from genkit_core.testing import tiny_spec

OBJECTIVE = {"type": "rae", "code_penalty": 0.3, "decoder_l2": 0.01}


def _spec(**changes):
    spec = tiny_spec(model="ae", likelihood={"type": "mse"}, objective=OBJECTIVE)
    spec.update(changes)
    return spec


def test_the_loss_is_the_squared_error_the_code_norm_and_the_decoders_weights():
    torch.manual_seed(0)
    model = build_model(_spec())
    x = torch.rand(8, 1, 8, 8)
    out = model(x)
    z = model.encode(x)
    mean = torch.sigmoid(model.decoder(z))[:, 0]  # mse's mean for data in [0, 1]
    squared = (x - mean).square().flatten(1).sum(1)
    code = 0.5 * z.square().sum(1)
    weights = sum(
        p.square().sum() for n, p in model.decoder.named_parameters() if n.endswith("weight")
    )
    expected = squared.mean() + 0.3 * code.mean() + 0.01 * weights
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert torch.allclose(out.terms["reconstruction"], squared, atol=1e-4)
    assert torch.allclose(out.terms["code_penalty"], code, atol=1e-5)
    assert torch.allclose(out.terms["decoder_l2"], weights.expand(8), rtol=1e-5)


def test_the_decoder_penalty_reaches_the_decoders_weights_only():
    model = build_model(_spec(objective={**OBJECTIVE, "code_penalty": 0.0}))
    x = torch.rand(4, 1, 8, 8)
    out = model(x)
    l2 = out.terms["decoder_l2"][0]
    grads = torch.autograd.grad(l2, list(model.parameters()), allow_unused=True)
    for (name, p), g in zip(model.named_parameters(), grads, strict=True):
        if name.startswith("decoder.") and name.endswith("weight"):
            assert torch.allclose(g, 2 * p)
        else:
            assert g is None or not g.abs().any(), name


@pytest.mark.parametrize(
    "changes",
    [pytest.param({"model": "vae"}, id="vae"),
     pytest.param({"divergence": {"type": "mmd"}}, id="with-a-divergence")],
)  # fmt: skip
def test_it_refuses_anything_but_a_plain_autoencoder(changes):
    with pytest.raises(SpecError, match=r"objective.type: rae regularises a deterministic code"):
        build_model(_spec(**changes))
