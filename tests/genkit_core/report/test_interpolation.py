from __future__ import annotations

import pytest
import torch

from genkit_core.report.interpolation import choose_pairs, interpolate, interpolate_codes


def test_interpolated_codes_run_straight_from_one_end_to_the_other():
    a, b = torch.randn(3, 4), torch.randn(3, 4)
    z = interpolate_codes(a, b, 5)
    torch.testing.assert_close(z[:, 0], a)
    torch.testing.assert_close(z[:, -1], b)
    torch.testing.assert_close(z[:, 2], (a + b) / 2)


def test_pairs_cross_classes_or_stay_in_one():
    labels = torch.tensor([0, 1, 0, 2, 1, 2])
    assert choose_pairs(labels, 2, same_class=False) == [(0, 1), (1, 3)]
    assert choose_pairs(labels, 3, same_class=True) == [(0, 2), (1, 4), (3, 5)]
    assert choose_pairs(None, 2, same_class=False) == [(0, 1), (2, 3)]


@pytest.mark.parametrize("kind", ["ae", "vae", "cvae"])
def test_interpolation_endpoints_are_the_decoded_endpoint_codes(views, kind):
    view = views[kind]
    pairs = choose_pairs(view.class_labels, 3, same_class=kind == "cvae")
    path = interpolate(view, pairs, steps=6)
    a = torch.tensor([i for i, _ in pairs])
    b = torch.tensor([j for _, j in pairs])
    y = view.test_y
    with torch.no_grad():
        model = view.model
        cond = (lambda i: y[i]) if kind == "cvae" else (lambda i: None)
        start = model.likelihood.mean(model.decode(model.encode(view.test_x[a], cond(a)), cond(a)))
        end = model.likelihood.mean(model.decode(model.encode(view.test_x[b], cond(b)), cond(a)))
    assert path.shape == (3, 6, *view.info.shape)
    torch.testing.assert_close(path[:, 0], start)
    torch.testing.assert_close(path[:, -1], end)
    if kind == "cvae":
        assert bool((y[a] == y[b]).all())
