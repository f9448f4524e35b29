r"""The latent map: test codes in two dimensions, coloured by class.

Codes with L = 2 are drawn as they are; L = 1 against the class (or the example index); for
L > 2 they are projected on their first two principal components: with the centred codes
:math:`Z - \bar z = U S V^\top`, the points are :math:`(Z - \bar z) V_{:, :2}` and component k
explains :math:`s_k^2 / \sum_j s_j^2` of the variance.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from torch import Tensor

from . import render  # noqa: F401 - selects the Agg backend before pyplot draws

__all__ = ["Projection", "plot_latent", "principal_components", "project_2d"]


@dataclass(frozen=True)
class Projection:
    """Codes in 2-D.

    Attributes:
        points: ``(N, 2)``.
        axes: the axis names (``z0``, ``PC1 (61%)``).
        how: one phrase saying how the points were made.
    """

    points: Tensor
    axes: tuple[str, str]
    how: str


def principal_components(codes: Tensor, k: int = 2) -> tuple[Tensor, Tensor]:
    """The centred codes ``(N, L)`` on their first k principal axes ``(N, k)``, and the fraction
    of the variance each axis explains ``(k,)``.

    ``torch.pca_lowrank`` with q = L is exact; each axis's sign is fixed so that its largest
    loading is positive, which makes the picture repeatable.
    """
    codes = codes.double()
    q = min(codes.shape)
    _, s, v = torch.pca_lowrank(codes, q=q, center=True, niter=4)
    v = v[:, :k]
    v = v * torch.sign(v.gather(0, v.abs().argmax(0, keepdim=True)))
    points = (codes - codes.mean(0)) @ v
    explained = s[:k] ** 2 / (s**2).sum().clamp_min(1e-300)
    return points.float(), explained.float()


def project_2d(codes: Tensor, labels: Tensor | None = None) -> Projection:
    """The codes ``(N, L)`` as 2-D points: themselves (L = 2), against the label or index
    (L = 1), or their first two principal components (L > 2).
    """
    L = codes.shape[1]
    if L == 2:
        return Projection(codes.float(), ("z0", "z1"), "the codes themselves")
    if L == 1:
        other = labels.float() if labels is not None else torch.arange(len(codes)).float()
        name = "class" if labels is not None else "example"
        return Projection(torch.stack([codes[:, 0].float(), other], 1), ("z0", name), "z0 alone")
    points, explained = principal_components(codes)
    names = tuple(f"PC{i + 1} ({100 * float(e):.0f}% of variance)" for i, e in enumerate(explained))
    return Projection(points, names, f"the first two principal components of the {L}-D codes")  # type: ignore[arg-type]


def plot_latent(projection: Projection, labels: Tensor | None, title: str) -> Figure:
    """A scatter of the points, one colour per class (tab10 / tab20), with a legend."""
    fig, ax = plt.subplots(figsize=(5.2, 4.4))
    p = projection.points.cpu().numpy()
    if labels is None:
        ax.scatter(p[:, 0], p[:, 1], s=6, alpha=0.7, color="tab:blue")
    else:
        labels = labels.cpu()
        classes = sorted(set(labels.tolist()))
        cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
        for i, c in enumerate(classes):
            mask = (labels == c).numpy()
            ax.scatter(p[mask, 0], p[mask, 1], s=6, alpha=0.7, color=cmap(i % cmap.N), label=c)
        if len(classes) <= 20:
            ax.legend(title="class", fontsize=7, markerscale=2, loc="center left",
                      bbox_to_anchor=(1.0, 0.5))  # fmt: skip
    ax.set_xlabel(projection.axes[0])
    ax.set_ylabel(projection.axes[1])
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
