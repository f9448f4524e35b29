from __future__ import annotations

import pytest
import torch

from genkit_core.report.latent import plot_latent, principal_components, project_2d


def _codes(n: int = 300, L: int = 5) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    scales = torch.tensor([5.0, 2.0, 1.0, 0.5, 0.1])[:L]
    return torch.randn(n, L, generator=g) * scales + 3.0


def test_principal_components_match_a_direct_svd():
    codes = _codes().double()
    points, explained = principal_components(codes)
    centred = codes - codes.mean(0)
    u, s, _ = torch.linalg.svd(centred, full_matrices=False)
    expected = (u[:, :2] * s[:2]).float()
    signs = torch.sign((points * expected).sum(0))  # an axis's sign is a convention
    torch.testing.assert_close(points * signs, expected, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(explained, (s[:2] ** 2 / (s**2).sum()).float())
    assert points.mean(0).abs().max() < 1e-4


def test_principal_component_signs_are_repeatable():
    codes = _codes()
    first, _ = principal_components(codes)
    again, _ = principal_components(codes.clone())
    torch.testing.assert_close(first, again)


@pytest.mark.parametrize(
    ("L", "axes"),
    [
        pytest.param(1, ("z0", "class"), id="one"),
        pytest.param(2, ("z0", "z1"), id="two"),
        pytest.param(5, None, id="pca"),
    ],
)
def test_project_2d_uses_the_codes_themselves_when_it_can(L, axes):
    codes = _codes(L=L)
    labels = torch.arange(len(codes)) % 3
    projection = project_2d(codes, labels)
    assert projection.points.shape == (len(codes), 2)
    if L == 2:
        torch.testing.assert_close(projection.points, codes)
    if L == 1:
        torch.testing.assert_close(projection.points[:, 0], codes[:, 0])
        torch.testing.assert_close(projection.points[:, 1], labels.float())
    if axes is None:
        assert projection.axes[0].startswith("PC1 (")
    else:
        assert projection.axes == axes


def test_plot_latent_colours_each_class():
    codes = _codes()
    labels = torch.arange(len(codes)) % 4
    fig = plot_latent(project_2d(codes, labels), labels, "t")
    assert len(fig.axes[0].collections) == 4
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["0", "1", "2", "3"]
