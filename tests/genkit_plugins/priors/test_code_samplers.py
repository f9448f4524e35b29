"""What code_maf, code_vae and code_diffusion share: the contract, seeded draws of the right
shape, a refusal of grid latents, and a fit that depends on the codes and the seed alone."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from genkit_core import SpecError, build_model
from genkit_core.testing import check_component, tiny_spec
from genkit_plugins.priors.code_density import CodeDensity
from genkit_plugins.priors.code_diffusion import CodeDiffusion
from genkit_plugins.priors.code_maf import CodeMAF
from genkit_plugins.priors.code_vae import CodeVAE

SMALL: dict[type, dict[str, Any]] = {
    CodeMAF: {"transforms": 2, "hidden_features": [16], "epochs": 2, "batch_size": 64},
    CodeVAE: {"hidden": 16, "layers": 1, "epochs": 2, "batch_size": 64, "iw_samples": 4},
    CodeDiffusion: {"hidden": 16, "layers": 1, "epochs": 2, "batch_size": 64, "steps": 20,
                    "sample_steps": 5},
}  # fmt: skip
SAMPLERS = [pytest.param(cls, id=cls.__name__) for cls in SMALL]


def small(cls: type, latent_dim: int = 3, **changes: Any) -> CodeDensity:
    prior: CodeDensity = cls(cls.Params.model_validate({**SMALL[cls], **changes}), latent_dim)
    return prior


def codes(n: int = 256, dim: int = 3, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=g) * torch.tensor([2.0, 0.5, 1.0])[:dim] + 3


@pytest.mark.parametrize("cls", SAMPLERS)
def test_keeps_the_prior_contract(cls):
    check_component(cls, SMALL[cls])


@pytest.mark.parametrize("cls", SAMPLERS)
def test_draws_have_the_latent_shape_and_repeat_under_a_seed(cls):
    prior = small(cls)
    prior.fit(codes())
    torch.manual_seed(3)
    first = prior.sample(7)
    torch.manual_seed(3)
    again = prior.sample(7)
    assert first.shape == (7, 3) and torch.isfinite(first).all()
    assert torch.equal(first, again)
    assert prior.log_prob(first).shape == (7,)
    assert prior.log_prob(first.expand(2, 7, 3)).shape == (2, 7)


@pytest.mark.parametrize("cls", SAMPLERS)
def test_the_fit_depends_on_the_codes_and_the_seed_alone(cls):
    one, two = small(cls), small(cls)
    torch.manual_seed(1)
    one.fit(codes())
    torch.manual_seed(2)  # the caller's random state plays no part
    two.fit(codes())
    for (name, a), b in zip(one.state_dict().items(), two.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("cls", SAMPLERS)
def test_the_codes_are_standardised_and_kept_in_buffers(cls):
    prior = small(cls)
    data = codes()
    prior.fit(data)
    assert torch.allclose(prior.shift, data.mean(0))
    assert torch.allclose(prior.scale, data.std(0, correction=0))
    assert not any(p.requires_grad for p in prior.parameters())  # the model's optimiser skips it


@pytest.mark.parametrize("name", ["code_maf", "code_vae", "code_diffusion"])
def test_a_grid_latent_is_refused_in_one_line(name):
    spec = tiny_spec(
        model="ae",
        encoder={"type": "conv", "channels": [8, 8], "hidden": None, "feature_map": True},
        posterior={"type": "vq", "codes": 4},
        decoder={"type": "conv", "channels": [8, 8], "hidden": None},
        prior={"type": name},
    )
    with pytest.raises(SpecError, match=rf"prior.type: the '{name}' prior models flat codes"):
        build_model(spec)
