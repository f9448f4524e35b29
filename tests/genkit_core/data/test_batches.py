"""Batches by index on the device, sharded across ranks exactly like one large batch."""

from __future__ import annotations

import torch

from genkit_core.data.batches import InMemoryBatches


def _rows(batches: InMemoryBatches, order: torch.Tensor) -> list[torch.Tensor]:
    return [x[:, 0] for x, _ in batches.epoch(order)]


def test_one_process_covers_every_example_once_with_a_partial_last_batch():
    x = torch.arange(10).float()[:, None]
    order = torch.randperm(10)
    batches = InMemoryBatches(x, None, batch_size=4)
    got = _rows(batches, order)
    assert [len(b) for b in got] == [4, 4, 2]
    assert torch.equal(torch.cat(got), order.float())


def test_ranks_split_each_global_batch_in_order():
    x = torch.arange(12).float()[:, None]
    y = torch.arange(12) * 10
    order = torch.randperm(12)
    single = list(InMemoryBatches(x, y, batch_size=4).epoch(order))
    ranks = [
        list(InMemoryBatches(x, y, batch_size=2, world=2, rank=r).epoch(order)) for r in (0, 1)
    ]
    for i, (xs, ys) in enumerate(single):
        joined_x = torch.cat([ranks[0][i][0], ranks[1][i][0]])
        joined_y = torch.cat([ranks[0][i][1], ranks[1][i][1]])
        assert torch.equal(joined_x, xs) and torch.equal(joined_y, ys)


def test_several_ranks_share_an_incomplete_global_batch_unless_drop_last():
    x = torch.zeros(10, 1)
    assert InMemoryBatches(x, None, batch_size=2, world=2, rank=1).steps == 3
    assert InMemoryBatches(x, None, batch_size=2, world=2, rank=1, drop_last=True).steps == 2


def test_starting_mid_epoch_continues_with_the_same_batches():
    x = torch.arange(9).float()[:, None]
    order = torch.randperm(9)
    batches = InMemoryBatches(x, None, batch_size=2)
    assert [b.tolist() for b in _rows(batches, order)[2:]] == [
        b[:, 0].tolist() for b, _ in batches.epoch(order, start=2)
    ]


def test_in_order_shards_the_test_set_across_ranks():
    x = torch.arange(7).float()[:, None]
    parts = [
        torch.cat([b for b, _ in InMemoryBatches(x, None, 2, world=2, rank=r).in_order()])
        for r in (0, 1)
    ]
    assert torch.equal(torch.cat(parts), x)


def _memmap(tmp_path, values):
    import numpy as np

    np.save(path := tmp_path / "x.npy", values)
    return np.load(path, mmap_mode="r")


def test_a_memory_mapped_view_pickles_as_its_place_in_the_file(tmp_path):
    import pickle

    import numpy as np

    from genkit_core.data.batches import _ArrayBatches

    values = np.arange(4 * 50 * 60, dtype=np.float32).reshape(4, 50, 60, 1)
    mapped = _memmap(tmp_path, values)[1:3].transpose(0, 3, 1, 2)  # a strided view
    data = pickle.dumps(_ArrayBatches(mapped, None))
    assert len(data) < 1000 < values.nbytes  # no copy of the data travels to a worker
    again = pickle.loads(data)
    assert np.array_equal(again.x, values[1:3].transpose(0, 3, 1, 2))
    assert np.array_equal(again[[1, 0]][0].numpy(), values[[2, 1]].transpose(0, 3, 1, 2))


def test_a_memory_map_of_a_file_without_a_path_pickles_its_data():
    import pickle
    import tempfile

    import numpy as np

    from genkit_core.data.batches import _ArrayBatches

    values = np.arange(12, dtype=np.float32).reshape(4, 3)
    with tempfile.TemporaryFile() as file:  # no name to map again in a worker
        values.tofile(file)
        file.flush()
        mapped = np.memmap(file, np.float32, mode="r", shape=(4, 3))
        assert mapped.filename is None
        again = pickle.loads(pickle.dumps(_ArrayBatches(mapped, None)))
    assert np.array_equal(again.x, values)
    assert np.array_equal(again[[3, 0]][0].numpy(), values[[3, 0]])


def test_a_memory_map_is_streamed_or_read_into_memory_with_the_same_batches(tmp_path):
    import numpy as np

    from genkit_core.data.batches import StreamedBatches, make_batches
    from genkit_core.interfaces import DataInfo, Split

    values = np.arange(30, dtype=np.uint8).reshape(10, 3)
    split = Split(_memmap(tmp_path, values), np.arange(10) % 2)
    info = DataInfo((3,), num_classes=2)
    order = torch.randperm(10)
    cpu = torch.device("cpu")
    got = {}
    for placement in ("device", "stream"):
        made = make_batches(split, info, True, 4, cpu, placement, num_workers=0)
        got[placement] = list(made.epoch(order))
    assert isinstance(made, StreamedBatches)
    for (x1, y1), (x2, y2) in zip(got["device"], got["stream"], strict=True):
        assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert torch.equal(torch.cat([x for x, _ in got["device"]]), torch.from_numpy(values)[order])
