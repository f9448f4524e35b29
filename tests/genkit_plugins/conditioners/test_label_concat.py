"""label_concat: one-hot features for flat data, constant channels for images."""

from __future__ import annotations

import pytest
import torch

from genkit_core import (
    Component,
    DataBundle,
    DataInfo,
    DataParams,
    DataSource,
    Params,
    Split,
)
from genkit_core.testing import fresh_registry
from genkit_core.training import Trainer
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


class _Vectors(DataSource):
    """A tiny data set conditioned on continuous vectors: x = [y, -y, y0 * y1] + noise."""

    Params = DataParams

    def describe(self) -> DataInfo:
        return DataInfo((5,), condition_dim=2, name="vectors")

    def load(self) -> DataBundle:
        generator = torch.Generator().manual_seed(0)
        y = torch.randn(96, 2, generator=generator)
        x = torch.cat([y, -y, y[:, :1] * y[:, 1:]], 1) + 0.1 * torch.randn(
            96, 5, generator=generator
        )
        return DataBundle(Split(x[:64], y[:64]), Split(x[64:], y[64:]), self.describe())


def test_a_cvae_trains_on_continuous_conditions(tmp_path):
    registry = fresh_registry()
    registry.add(Component("vectors", _Vectors))
    spec = {
        "model": "cvae",
        "latent_dim": 2,
        "data": {"type": "vectors"},
        "encoder": {"type": "mlp", "hidden": [16]},
        "decoder": {"type": "mlp", "hidden": [16]},
        "likelihood": {"type": "gaussian", "activation": "identity"},
        "conditioner": {"type": "label_concat"},
        "train": {"epochs": 2, "batch_size": 32, "device": "cpu", "progress": False},
    }
    trainer = Trainer(spec, tmp_path / "run", registry=registry, stream=None)
    trainer.fit()
    model = trainer.model.eval()
    assert model.conditioner.input_shape == (7,) and model.conditioner.latent_features == 4
    y = torch.tensor([[2.0, 0.0], [-2.0, 0.0]])
    with torch.no_grad():
        out = model(torch.cat([y, -y, torch.zeros(2, 1)], 1), y, noise=torch.zeros(2, 2))
        samples = model.sample(2, labels=y)
    assert torch.isfinite(out.loss) and samples.shape == (2, 5)
    with pytest.raises(ValueError, match="pass labels"):
        model.sample(2)
