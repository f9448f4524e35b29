"""Atomic writes and safetensors reading."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from genkit_core import RunError
from genkit_core.files import (
    BackgroundWriter,
    atomic_write,
    atomic_write_with,
    content_hash,
    read_metadata,
    read_small_file,
    read_tensors,
    write_tensors,
)


def test_atomic_write_replaces_the_file_and_follows_the_umask(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")
    old_umask = os.umask(0o022)
    try:
        atomic_write(path, b"new")
    finally:
        os.umask(old_umask)
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]  # no temporary file left


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")

    def fail(tmp):
        tmp.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(RunError, match=r"f\.bin: cannot write it \(disk full\); the previous"):
        atomic_write_with(path, fail)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_tensors_and_metadata_round_trip(tmp_path):
    tensors = {"a": torch.randn(3, 4), "b": torch.arange(5)}
    write_tensors(tmp_path / "t.safetensors", tensors, {"step": 7, "data": {"shape": [1, 8, 8]}})
    loaded, meta = read_tensors(tmp_path / "t.safetensors")
    assert meta == {"step": 7, "data": {"shape": [1, 8, 8]}}
    assert all(torch.equal(loaded[k], v) for k, v in tensors.items())


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: data[: len(data) // 2], id="truncated"),
        pytest.param(lambda data: b"\xff" * 16 + data[16:], id="corrupt-header"),
        pytest.param(lambda data: b"", id="empty"),
    ],
)
def test_damaged_files_are_a_run_error_naming_the_file(tmp_path, damage):
    path = tmp_path / "model.safetensors"
    write_tensors(path, {"w": torch.randn(100, 100)})
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(RunError, match=r"model\.safetensors: not a readable safetensors file"):
        read_tensors(path)


def test_a_write_syncs_the_file_before_the_rename_and_the_directory_after(tmp_path, monkeypatch):
    """The order that makes a write survive a power cut: data on disk, rename, rename on disk."""
    events = []
    fsync, replace = os.fsync, os.replace

    def record_fsync(fd):
        events.append("fsync dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "fsync file")
        fsync(fd)

    def record_replace(src, dst):
        events.append(f"rename {os.path.basename(src)[:9]} -> {os.path.basename(dst)}")
        replace(src, dst)

    monkeypatch.setattr(os, "fsync", record_fsync)
    monkeypatch.setattr(os, "replace", record_replace)
    atomic_write(tmp_path / "f.bin", b"data")
    assert [e.split()[0] for e in events] == ["fsync", "rename", "fsync"]
    assert events[0] == "fsync file" and events[2] == "fsync dir"
    assert events[1].startswith("rename .f.bin.") and events[1].endswith("-> f.bin")


def test_the_content_hash_is_sha256_of_names_dtypes_shapes_and_bytes(tmp_path: Path):
    import hashlib

    tensors = {"b": torch.arange(6, dtype=torch.float32).view(2, 3), "a": torch.tensor([1, 2])}
    expected = hashlib.sha256()
    for name, array in (("a", np.array([1, 2], dtype=np.int64)),
                        ("b", np.arange(6, dtype=np.float32).reshape(2, 3))):  # fmt: skip
        dtype = {"a": "torch.int64", "b": "torch.float32"}[name]
        expected.update(f"{name}\0{dtype}\0{array.shape}\0".encode() + array.tobytes())
    assert content_hash(tensors) == expected.hexdigest()
    write_tensors(tmp_path / "t.safetensors", tensors, {"k": 1})
    with safe_open(tmp_path / "t.safetensors", framework="pt") as f:
        assert f.metadata()["genkit_sha256"] == expected.hexdigest()


@pytest.mark.parametrize("offset", [-1, -24, -48], ids=["last", "middle", "first"])
def test_any_changed_byte_of_a_tensor_is_found(tmp_path: Path, offset: int):
    path = tmp_path / "t.safetensors"
    write_tensors(path, {"a": torch.zeros(6, dtype=torch.float64)})  # the last 48 bytes
    data = bytearray(path.read_bytes())
    data[offset] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(RunError, match=r"t\.safetensors: its tensors do not match the hash"):
        read_tensors(path)


def test_a_file_without_a_hash_is_read_as_it_is(tmp_path: Path):
    from safetensors.torch import save_file

    save_file({"a": torch.ones(2)}, tmp_path / "old.safetensors", metadata={"genkit": "{}"})
    tensors, meta = read_tensors(tmp_path / "old.safetensors")
    assert torch.equal(tensors["a"], torch.ones(2)) and meta == {}


# --- writes in the background --------------------------------------------------------------


def test_a_deferred_write_holds_the_tensors_as_they_were_when_it_was_asked_for(tmp_path):
    weights = torch.zeros(1000)
    with BackgroundWriter() as writer, writer.deferring():
        write_tensors(tmp_path / "w.safetensors", {"w": weights}, {"step": 1})
        weights += 1  # training goes on at once
    loaded, meta = read_tensors(tmp_path / "w.safetensors")
    assert torch.equal(loaded["w"], torch.zeros(1000)) and meta == {"step": 1}


def test_deferred_writes_run_on_another_thread_in_order_and_the_last_one_wins(tmp_path):
    threads = []

    def write(data):
        def job(tmp):
            threads.append(threading.current_thread())
            time.sleep(0.05)
            tmp.write_bytes(data)

        return job

    with BackgroundWriter() as writer:
        with writer.deferring():
            for i in range(3):
                atomic_write_with(tmp_path / "f.bin", write(b"%d" % i))
            atomic_write_with(tmp_path / "g.bin", write(b"g"))
        writer.wait()
        assert (tmp_path / "f.bin").read_bytes() == b"2"
        assert (tmp_path / "g.bin").read_bytes() == b"g"
    assert len(threads) == 4 and threading.main_thread() not in threads
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin", "g.bin"]


def test_a_write_outside_deferring_happens_at_once(tmp_path):
    with BackgroundWriter() as writer:
        with writer.deferring():
            pass
        atomic_write(tmp_path / "f.bin", b"now")
        assert (tmp_path / "f.bin").read_bytes() == b"now"


def test_at_most_one_write_of_a_file_is_pending(tmp_path):
    """A second write of the same file waits for the first: memory holds one copy per file."""
    release = threading.Event()
    started = []

    def slow(tmp):
        started.append(time.perf_counter())
        release.wait(5)
        tmp.write_bytes(b"slow")

    with BackgroundWriter() as writer, writer.deferring():
        atomic_write_with(tmp_path / "f.bin", slow)
        threading.Timer(0.2, release.set).start()
        began = time.perf_counter()
        atomic_write(tmp_path / "f.bin", b"next")  # blocks until the first is written
        assert time.perf_counter() - began >= 0.15
    assert (tmp_path / "f.bin").read_bytes() == b"next"


def _disk_full(tmp):
    tmp.write_bytes(b"half")
    raise OSError(28, "No space left on device")


def test_a_failed_background_write_is_a_run_error_at_the_next_write(tmp_path):
    (tmp_path / "f.bin").write_bytes(b"old")
    full = r"f\.bin: cannot write it \(No space left on device\)"
    with pytest.raises(RunError, match=full), BackgroundWriter() as writer, writer.deferring():
        atomic_write_with(tmp_path / "f.bin", _disk_full)
        writer._pending[tmp_path / "f.bin"].exception()  # let it fail first
        atomic_write(tmp_path / "g.bin", b"g")  # raises here, and writes nothing
        pytest.fail("the failed write was not reported")
    assert (tmp_path / "f.bin").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


def test_a_failed_background_write_is_a_run_error_when_the_block_ends(tmp_path):
    nothing = r"f\.bin: cannot write it .*; nothing was written"
    with pytest.raises(RunError, match=nothing), BackgroundWriter() as writer, writer.deferring():
        atomic_write_with(tmp_path / "f.bin", _disk_full)
    assert list(tmp_path.iterdir()) == []


def test_metadata_nested_past_the_json_parsers_depth_is_a_run_error(tmp_path: Path) -> None:
    # found by attacking: RecursionError escaped as a traceback
    path = tmp_path / "t.safetensors"
    header = {"__metadata__": {"genkit": "[" * 100_000 + "]" * 100_000}}
    text = json.dumps(header).encode()
    path.write_bytes(len(text).to_bytes(8, "little") + text)
    with pytest.raises(RunError, match=r"t\.safetensors: not a readable safetensors file"):
        read_metadata(path)


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "sparse-10-GB"])
def test_read_small_file_refuses_pipes_devices_and_huge_files_without_reading_them(
    tmp_path: Path, kind: str
) -> None:
    path = tmp_path / "metrics.csv"
    if kind == "fifo":
        os.mkfifo(path)  # reading it would wait for a writer forever
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    else:
        with path.open("wb") as f:
            f.truncate(10 << 30)
    message = "larger than the 1.0 MiB" if kind.startswith("sparse") else "not a regular file"
    with pytest.raises(RunError, match=rf"metrics\.csv: .*{message}"):
        read_small_file(path, 1 << 20)


@pytest.mark.parametrize("kind", ["fifo", "directory", "link-to-a-device"])
def test_a_write_never_replaces_a_device_a_pipe_or_a_directory(tmp_path: Path, kind: str) -> None:
    # found by attacking: as root, genkit sample -o /dev/full replaced the device with a PNG
    path = tmp_path / "out.png"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    else:  # -o /dev/stdout, a link to a device: the rename would replace the link
        path.symlink_to("/dev/null")
    with pytest.raises(RunError, match=r"out\.png: exists and is a (device or a pipe|directory)"):
        atomic_write(path, b"png")
    assert not path.is_file() and [p.name for p in tmp_path.iterdir()] == ["out.png"]
