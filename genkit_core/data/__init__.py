"""A spec's data: loading and checking its splits, and cutting them into batches."""

from .batches import (
    Batches,
    BinarizedEachEpoch,
    InMemoryBatches,
    StreamedBatches,
    eval_batches,
    make_batches,
    shard_rows,
)
from .loading import (
    as_float,
    binarize,
    check_split,
    chunk_rows,
    data_source,
    describe_data,
    load_data,
    load_resolved_data,
    measured_draw,
)

__all__ = [
    "Batches",
    "BinarizedEachEpoch",
    "InMemoryBatches",
    "StreamedBatches",
    "as_float",
    "binarize",
    "check_split",
    "chunk_rows",
    "data_source",
    "describe_data",
    "eval_batches",
    "load_data",
    "load_resolved_data",
    "make_batches",
    "measured_draw",
    "shard_rows",
]
