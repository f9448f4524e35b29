"""code_gaussian: fitted to codes after training, so an autoencoder can sample."""

from __future__ import annotations

import pytest
import torch

from genkit_core import Params
from genkit_core.testing import check_component
from genkit_plugins.priors.code_gaussian import CodeGaussian


def test_keeps_the_prior_contract():
    check_component(CodeGaussian, {})


def test_fit_gives_the_sample_mean_and_covariance():
    torch.manual_seed(0)
    mixing = torch.tensor([[2.0, 0.0, 0.0], [0.5, 1.0, 0.0], [0.0, -0.3, 0.2]])
    codes = torch.randn(5000, 3) @ mixing.T + torch.tensor([1.0, -2.0, 0.5])
    prior = CodeGaussian(Params(), 3)
    prior.fit(codes)
    dist = prior.distribution()
    expected = torch.cov(codes.T.double()) + 1e-5 * torch.eye(3, dtype=torch.float64)
    assert torch.allclose(dist.mean.double(), codes.double().mean(0), atol=1e-6)
    assert torch.allclose(dist.covariance_matrix.double(), expected, atol=1e-5)


def test_it_is_saved_with_the_weights():
    prior = CodeGaussian(Params(), 2)
    prior.fit(torch.randn(100, 2) * 3 + 4)
    restored = CodeGaussian(Params(), 2)
    restored.load_state_dict(prior.state_dict())
    assert torch.equal(restored.distribution().mean, prior.distribution().mean)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_it_fits_codes_on_cuda():
    """The trainer and the report fit codes where the model is: the jitter was made on the CPU,
    and adding it to a CUDA covariance failed at the end of an AE's training on CUDA."""
    prior = CodeGaussian(Params(), 2).cuda()
    codes = torch.randn(100, 2, device="cuda") * 3 + 4
    prior.fit(codes)
    assert prior.loc.device.type == "cuda"
    assert torch.allclose(prior.loc.cpu(), codes.mean(0).cpu(), atol=1e-5)
