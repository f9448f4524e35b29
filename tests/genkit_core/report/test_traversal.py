from __future__ import annotations

import torch

from genkit_core.report.traversal import MAX_ROWS, chosen_dimensions, traversal_values, traverse


def test_every_dimension_of_a_small_latent_and_the_most_varied_of_a_large_one():
    assert chosen_dimensions(torch.randn(50, 4)) == [0, 1, 2, 3]
    scales = torch.ones(20)
    busy = [1, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 18, 19]
    scales[busy] = 10.0
    assert len(busy) == MAX_ROWS
    assert chosen_dimensions(torch.randn(500, 20) * scales) == busy


def test_values_span_the_2nd_to_98th_percentile():
    codes = torch.randn(1000, 3) * torch.tensor([1.0, 2.0, 3.0])
    values = traversal_values(codes, [0, 2], 5)
    low = torch.quantile(codes[:, [0, 2]], 0.02, dim=0)
    high = torch.quantile(codes[:, [0, 2]], 0.98, dim=0)
    torch.testing.assert_close(values[:, 0], low)
    torch.testing.assert_close(values[:, -1], high)
    assert bool((values.diff(dim=1) > 0).all())


def test_a_row_decodes_the_base_code_with_one_dimension_changed(views):
    view = views["cvae"]
    codes = view.codes(view.test_x, view.test_y)
    decoded, dims, values = traverse(view, codes, base=2, steps=4)
    assert dims == [0, 1, 2]
    assert decoded.shape == (3, 4, *view.info.shape)
    z = codes[2].clone()
    z[1] = values[1, 3]
    with torch.no_grad():
        expected = view.model.likelihood.mean(view.model.decode(z[None], view.test_y[2:3]))
    torch.testing.assert_close(decoded[1, 3], expected[0])
