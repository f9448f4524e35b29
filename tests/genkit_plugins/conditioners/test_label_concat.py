"""label_concat: one-hot features for flat data, constant channels for images."""

from __future__ import annotations

import torch

from genkit_core import DataInfo, Params
from genkit_plugins.conditioners.label_concat import LabelConcat


def test_flat_data_gets_one_hot_features():
    cond = LabelConcat(Params(), DataInfo((6,), num_classes=3), latent_dim=2)
    x, y = torch.rand(2, 6), torch.tensor([2, 0])
    joined = cond.join_input(x, y)
    assert cond.input_shape == (9,)
    assert torch.equal(joined[:, :6], x)
    assert torch.equal(joined[:, 6:], torch.tensor([[0.0, 0, 1], [1, 0, 0]]))
    assert cond.latent_features == 5
    assert torch.equal(cond.join_latent(torch.zeros(2, 2), y)[:, 2:], joined[:, 6:])


def test_images_get_constant_label_channels():
    cond = LabelConcat(Params(), DataInfo((1, 4, 4), num_classes=10), latent_dim=3)
    joined = cond.join_input(torch.rand(2, 1, 4, 4), torch.tensor([7, 1]))
    assert cond.input_shape == joined.shape[1:] == (11, 4, 4)
    assert torch.all(joined[0, 1 + 7] == 1) and joined[0, 1:].sum() == 16


def test_continuous_conditions_are_concatenated_as_they_are():
    cond = LabelConcat(Params(), DataInfo((5,), condition_dim=2), latent_dim=3)
    y = torch.tensor([[0.5, -1.0]])
    assert torch.equal(cond.join_latent(torch.zeros(1, 3), y), torch.tensor([[0, 0, 0, 0.5, -1.0]]))
