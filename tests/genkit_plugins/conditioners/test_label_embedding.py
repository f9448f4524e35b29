"""label_embedding: learned label rows joined like label_concat; the label reaches the loss
only through the networks.
"""

from __future__ import annotations

import pytest
import torch

from genkit_core import DataInfo, SpecError, build_model
from genkit_plugins.conditioners.label_embedding import LabelEmbedding, LabelEmbeddingParams


def test_flat_data_gets_the_embedding_row_as_features():
    cond = LabelEmbedding(LabelEmbeddingParams(dim=3), DataInfo((6,), num_classes=4), 2)
    x, y = torch.rand(2, 6), torch.tensor([3, 1])
    joined = cond.join_input(x, y)
    assert cond.input_shape == (9,) and cond.latent_features == 5
    assert torch.equal(joined[:, :6], x)
    assert torch.equal(joined[:, 6:], cond.embedding.weight[[3, 1]])
    assert torch.equal(cond.join_latent(torch.zeros(2, 2), y)[:, 2:], joined[:, 6:])


def test_images_get_constant_embedding_channels():
    cond = LabelEmbedding(LabelEmbeddingParams(dim=5), DataInfo((1, 4, 4), num_classes=10), 3)
    joined = cond.join_input(torch.rand(2, 1, 4, 4), torch.tensor([7, 1]))
    assert cond.input_shape == joined.shape[1:] == (6, 4, 4)
    row = cond.embedding.weight[7]
    assert torch.equal(joined[0, 1:], row[:, None, None].expand(5, 4, 4))


def test_refuses_continuous_conditions():
    with pytest.raises(SpecError, match=r"use conditioner: \{type: label_concat\}"):
        LabelEmbedding(LabelEmbeddingParams(), DataInfo((5,), condition_dim=2), 3)


def _zero_label_paths(model, conditioner: str) -> None:
    """Cut every path from the label into the networks (the one thing that may carry it)."""
    with torch.no_grad():
        if conditioner == "label_embedding":
            model.conditioner.embedding.weight.zero_()
        else:
            model.encoder.net[0].weight[:, 64:].zero_()  # 64 pixels, then the one-hot label
            model.decoder.net[0].weight[:, 4:].zero_()  # 4 latents, then the one-hot label


@pytest.mark.parametrize("conditioner", ["label_concat", "label_embedding"])
def test_the_label_enters_the_loss_only_through_the_networks(spec_dict, conditioner):
    spec = spec_dict(
        model="cvae", conditioner={"type": conditioner}, data={"type": "digits", "flatten": True}
    )
    model = build_model(spec)
    x, eps = torch.rand(4, 64), torch.randn(4, 4)
    first, second = torch.tensor([0, 3, 5, 9]), torch.tensor([1, 1, 2, 2])
    assert not torch.allclose(
        model(x, first, eps).terms["reconstruction"], model(x, second, eps).terms["reconstruction"]
    )
    _zero_label_paths(model, conditioner)
    a, b = model(x, first, eps), model(x, second, eps)
    for name in ("reconstruction", "divergence"):
        assert torch.equal(a.terms[name], b.terms[name])
    assert torch.equal(a.loss, b.loss)
