r"""Interpolations between test images through the latent space.

For a pair of test images with codes :math:`z_a, z_b` (posterior means, or an AE's codes), the
path is :math:`z_t = (1 - t)\, z_a + t\, z_b` for t evenly spaced in [0, 1], each decoded to the
likelihood's mean. A vae or ae pairs images of different classes; a cvae pairs two images of
the same class and holds that class fixed along the path (the condition is not interpolated).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .view import RunView

__all__ = ["choose_pairs", "interpolate", "interpolate_codes"]


def interpolate_codes(z_a: Tensor, z_b: Tensor, steps: int) -> Tensor:
    """``(P, steps, L)`` codes on the straight lines from ``z_a`` to ``z_b`` ``(P, L)``."""
    t = torch.linspace(0, 1, steps, device=z_a.device, dtype=z_a.dtype).view(1, steps, 1)
    return (1 - t) * z_a.unsqueeze(1) + t * z_b.unsqueeze(1)


def choose_pairs(labels: Tensor | None, n: int, same_class: bool) -> list[tuple[int, int]]:
    """Indices of n test pairs: the first examples of classes (k, k+1), or two of class k when
    ``same_class``; consecutive examples when there are no labels.
    """
    if labels is None:
        return [(2 * i, 2 * i + 1) for i in range(n)]
    by_class: dict[int, list[int]] = {}
    for i, c in enumerate(labels.tolist()):
        by_class.setdefault(c, []).append(i)
    classes = sorted(by_class)
    pairs = []
    for k in range(len(classes)):
        a, b = classes[k], classes[(k + 1) % len(classes)]
        if same_class and len(by_class[a]) >= 2:
            pairs.append((by_class[a][0], by_class[a][1]))
        elif not same_class and a != b:
            pairs.append((by_class[a][0], by_class[b][0]))
        if len(pairs) == n:
            break
    return pairs


@torch.no_grad()
def interpolate(view: RunView, pairs: list[tuple[int, int]], steps: int = 8) -> Tensor:
    """``(P, steps, *shape)`` decoded paths between the pairs of test examples; the condition of
    a cvae is that of each pair's first example.
    """
    a = torch.tensor([i for i, _ in pairs], device=view.test_x.device)
    b = torch.tensor([j for _, j in pairs], device=view.test_x.device)
    y = view.test_y
    z = interpolate_codes(
        view.codes(view.test_x[a], _at(y, a)), view.codes(view.test_x[b], _at(y, b)), steps
    )
    y_path = None if y is None else y[a].repeat_interleave(steps, dim=0)
    decoded = view.decode_mean(z.flatten(0, 1), y_path)
    return decoded.view(len(pairs), steps, *decoded.shape[1:])


def _at(y: Tensor | None, index: Tensor) -> Tensor | None:
    return None if y is None else y[index]
