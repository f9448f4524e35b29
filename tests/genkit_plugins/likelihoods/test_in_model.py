"""Every likelihood fits the decoder's output through LatentVariableModel and trains."""

from __future__ import annotations

import pytest
import torch

from genkit_core import build_model

LIKELIHOODS = [
    pytest.param({"type": "gaussian"}, id="gaussian-per_pixel"),
    pytest.param({"type": "gaussian", "variance": "decoder"}, id="gaussian-decoder"),
    pytest.param({"type": "laplace", "variance": "shared"}, id="laplace-shared"),
    pytest.param({"type": "discretized_logistic"}, id="discretized_logistic"),
    pytest.param({"type": "categorical256"}, id="categorical256"),
]


@pytest.mark.parametrize("likelihood", LIKELIHOODS)
def test_likelihood_trains_in_a_vae(spec_dict, adam_steps, likelihood):
    model = build_model(spec_dict(likelihood=likelihood))
    x = torch.randint(0, 256, (16, 1, 8, 8)).float() / 255
    losses = adam_steps(model, x, lambda: torch.zeros(16, 4), steps=15)
    assert model(x, noise=torch.zeros(16, 4)).terms["reconstruction"].shape == (16,)
    assert losses[-1] < losses[0]
    assert model.sample(3).shape == model.reconstruct(x[:3]).shape == (3, 1, 8, 8)


def _graph(loss: torch.Tensor) -> set[str]:
    """The names of every node in the autograd graph of ``loss``."""
    names, todo, seen = set(), [loss.grad_fn], set()
    while todo:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.add(type(node).__name__)
        todo.extend(parent for parent, _ in node.next_functions)
    return names


@pytest.mark.parametrize(
    "likelihood",
    [
        *LIKELIHOODS,
        pytest.param({"type": "mse"}, id="mse"),
        pytest.param({"type": "bernoulli"}, id="bernoulli"),
    ],
)
def test_the_loss_takes_the_decoder_channels_without_indexing(spec_dict, likelihood):
    """``params[:, k]``'s backward zero-filled and copied the whole decoder output every step;
    the likelihoods take their channels as views (``Likelihood.channels``)."""
    model = build_model(spec_dict(likelihood=likelihood))
    x = torch.randint(0, 256, (4, 1, 8, 8)).float() / 255
    nodes = _graph(model(x, noise=torch.zeros(4, 4)).losses["model"])
    assert not nodes & {"SelectBackward0", "IndexBackward0"}, nodes
