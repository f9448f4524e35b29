"""code_pixelcnn: the gated PixelCNN is causal with no blind spot, a normalised distribution
whose samples follow it, and fits dependencies between codes; the prior needs a codebook."""

from __future__ import annotations

import itertools

import pytest
import torch

from genkit_core import SpecError, build_model
from genkit_core.testing import tiny_spec
from genkit_plugins.priors.gated_pixelcnn import GatedPixelCNN


def _net(codes: int = 3, layers: int = 4, seed: int = 0) -> GatedPixelCNN:
    torch.manual_seed(seed)
    return GatedPixelCNN(codes, channels=8, layers=layers, kernel=3)


def _dependence(net: GatedPixelCNN, height: int, width: int) -> torch.Tensor:
    """``(cells, cells)``: whether the logits at cell a (row) depend on the input at cell b."""
    cells = height * width
    embedded = torch.randn(1, 8, height, width, requires_grad=True)
    logits = net.logits(embedded)
    seen = torch.zeros(cells, cells, dtype=torch.bool)
    for a in range(cells):
        (grad,) = torch.autograd.grad(logits[0, :, a // width, a % width].sum(), embedded,
                                      retain_graph=True)  # fmt: skip
        seen[a] = grad[0].abs().sum(0).flatten() > 0
    return seen


def test_each_cell_sees_exactly_the_cells_before_it():
    """Causal (nothing at or after the cell in raster order) and without the original
    PixelCNN's blind spot: every earlier cell reaches it, given enough layers."""
    seen = _dependence(_net(layers=5), 4, 4)
    before = torch.ones(16, 16, dtype=torch.bool).tril(-1)
    assert torch.equal(seen, before)


def test_the_probabilities_of_every_grid_sum_to_one():
    net = _net(codes=3)
    grids = torch.tensor(list(itertools.product(range(3), repeat=4))).view(-1, 2, 2)
    total = torch.logsumexp(net.log_prob(grids), 0)
    assert total.item() == pytest.approx(0.0, abs=1e-5)


def test_samples_follow_the_distribution():
    net = _net(codes=2)
    grids = torch.tensor(list(itertools.product(range(2), repeat=2))).view(-1, 1, 2)
    expected = net.log_prob(grids).exp()
    torch.manual_seed(1)
    drawn = net.sample(20_000, 1, 2, torch.device("cpu"))
    observed = torch.stack([(drawn == g).all(-1).all(-1).float().mean() for g in grids])
    assert torch.allclose(observed, expected, atol=0.015)  # ~4 standard errors of 20k draws


def _vq_model(prior: dict | None = None):
    spec = tiny_spec(
        model="ae",
        encoder={"type": "conv", "channels": [8, 8], "hidden": None, "feature_map": True},
        posterior={"type": "vq", "codes": 4},
        decoder={"type": "conv", "channels": [8, 8], "hidden": None},
        prior=prior or {"type": "code_pixelcnn", "channels": 8, "layers": 3, "epochs": 80,
                        "batch_size": 128, "lr": 3e-3},
    )  # fmt: skip
    return build_model(spec)


@pytest.mark.slow
def test_the_fit_learns_how_codes_depend_on_each_other():
    """Codes whose second cell copies the first: after the fit, the first cell is uniform over
    the 4 entries (log 4 nats) and the copy nearly certain, well under the 2 log 4 of a prior
    that treats the cells as independent."""
    model = _vq_model()
    prior, posterior = model.prior, model.posterior
    torch.manual_seed(0)
    first = torch.randint(0, 4, (512,))
    other = torch.randint(0, 4, (512, 2))
    indices = torch.stack([first, first, *other.T], 1).view(-1, 2, 2)
    codes = posterior.embed(indices)
    prior.fit(codes)
    nll = -prior.log_prob(codes).mean().item()
    log4 = torch.log(torch.tensor(4.0)).item()
    assert nll < 3 * log4 + 0.3  # first, two free cells; the copy costs ~nothing
    assert not any(p.requires_grad for p in prior.parameters())  # never the trainer's
    z = prior.sample(6)
    assert z.shape == (6, 4, 2, 2)
    assert torch.equal(posterior.embed(posterior.indices(z)), z)  # draws are codebook entries


def test_a_fit_depends_on_the_codes_alone():
    """Fitting twice (as a resumed run that fits again does) gives the same weights."""
    model = _vq_model({"type": "code_pixelcnn", "channels": 8, "layers": 2, "epochs": 2})
    codes = model.posterior.embed(torch.randint(0, 4, (64, 2, 2)))
    model.prior.fit(codes)
    first = {k: v.clone() for k, v in model.prior.state_dict().items()}
    with torch.no_grad():
        for p in model.prior.parameters():
            p.add_(1.0)
    model.prior.fit(codes)
    assert all(torch.equal(first[k], v) for k, v in model.prior.state_dict().items())


def test_it_refuses_a_posterior_without_a_codebook():
    spec = tiny_spec(model="ae", prior={"type": "code_pixelcnn"})
    with pytest.raises(SpecError, match=r"prior.type: code_pixelcnn models the indices of a "
                                        r"codebook.*use posterior: \{type: vq\}"):  # fmt: skip
        build_model(spec)


def test_an_even_kernel_is_refused():
    with pytest.raises(SpecError, match=r"prior.kernel: kernel must be odd, not 4"):
        _vq_model({"type": "code_pixelcnn", "kernel": 4})
