"""Composing AE, VAE and CVAE from spec files by name, and refusing what cannot be built."""

from __future__ import annotations

import pytest
import torch

from genkit_core import LatentVariableModel, SpecError, build_model, load_spec
from genkit_core.build import MAX_PARAMETERS
from genkit_plugins.data.digits import Digits, DigitsParams


@pytest.mark.parametrize("kind", ["ae", "vae", "cvae"])
def test_each_kind_is_built_from_a_spec_file_and_its_loss_goes_down(kind, spec_dict, write_spec):
    path = write_spec(spec_dict(model=kind, encoder={"type": "conv", "channels": [8, 16]}))
    model = build_model(path)
    assert isinstance(model, LatentVariableModel)
    assert model.kind == kind
    assert (model.prior is None) == (kind == "ae")
    assert (model.conditioner is None) == (kind != "cvae")
    train = Digits(DigitsParams()).load().train
    x, y = train.x[:32], train.y[:32]
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    eps = torch.randn(32, 4)
    losses = []
    for _ in range(40):
        out = model(x, y, noise=eps)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
        losses.append(out.loss.item())
    assert losses[-1] < 0.75 * losses[0], losses[::10]
    expected_terms = {"reconstruction"} | ({"divergence"} if kind != "ae" else set())
    assert set(out.terms) == expected_terms


def test_a_cvae_needs_labelled_data(spec_dict):
    from genkit_core import DataInfo

    spec = load_spec(spec_dict(model="cvae"))
    with pytest.raises(SpecError, match=r"^data: a cvae needs labelled data"):
        build_model(spec, data=DataInfo((1, 8, 8), name="unlabelled"))


def test_absurd_sizes_are_refused_before_allocating(spec_dict):
    wide = {"type": "mlp", "hidden": [65536, 65536]}
    with pytest.raises(SpecError, match=r"parameters .* reduce the hidden sizes"):
        build_model(spec_dict(encoder=wide, decoder=wide))
    assert MAX_PARAMETERS < 2 * 65536 * 65536


def test_meta_builds_allocate_nothing(spec_dict):
    model = build_model(spec_dict(), device="meta")
    assert all(p.device.type == "meta" for p in model.parameters())


def test_a_decoder_that_returns_the_wrong_shape_is_named(spec_dict, builtins_registry):
    from genkit_core import Component, PluginError
    from genkit_plugins.networks.mlp import MLPDecoder

    class Truncating(MLPDecoder):
        """Drops the parameter axis."""

        def forward(self, z):
            return super().forward(z)[:, 0]

    builtins_registry.add(Component("truncating", Truncating))
    with pytest.raises(
        PluginError,
        match=r"decoder 'truncating' returned shape \(2, 1, 8, 8\) .* expected \(2, 1, 1, 8, 8\)",
    ):
        build_model(spec_dict(decoder={"type": "truncating"}), registry=builtins_registry)
