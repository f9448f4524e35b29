"""The metadata of weights and checkpoints: every field validated, and covered by a hash.

Each case is a file with a recomputed tensor hash (as someone who edits a file with genkit's own
writer would make it): only the validation stands between the value and the code that uses it.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
from pathlib import Path
from typing import Any

import pytest

from genkit_core import RunError
from genkit_core.cli import main
from genkit_core.files import read_metadata, read_tensors, write_tensors
from genkit_core.run_metrics import trained_position


@pytest.fixture
def run(tmp_path: Path, trained_runs) -> Path:
    shutil.copytree(trained_runs["vae"], tmp_path / "run")
    return tmp_path / "run"


def _rewrite(path: Path, change: Any) -> None:
    """Write ``path`` again through genkit's writer, its metadata changed by ``change(meta)``."""
    tensors, meta = read_tensors(path)
    write_tensors(path, tensors, change(meta))


def _position(**values: Any) -> Any:
    return lambda meta: {**meta, "position": {**meta["position"], **values}}


_CHECKPOINTS = [
    pytest.param(_position(epoch="1"), r"position\.epoch .*got '1'", id="epoch-a-string"),
    pytest.param(_position(step="abc"), r"position\.step .*got 'abc'", id="step-abc"),
    pytest.param(_position(epoch=-5), r"position\.epoch .*greater than or equal to 0", id="-5"),
    pytest.param(_position(batch=True), r"position\.batch .*got True", id="batch-true"),
    pytest.param(lambda meta: {**meta, "format": 7}, r"format .*got 7", id="format-7"),
    pytest.param(lambda meta: [meta], r"metadata is a list, not a mapping", id="a-list"),
]


@pytest.mark.parametrize(("change", "message"), _CHECKPOINTS)
def test_a_resume_from_an_edited_checkpoint_is_one_line_naming_file_field_and_value(
    run: Path, change: Any, message: str, capsys
) -> None:
    _rewrite(run / "checkpoint.safetensors", change)
    metrics = (run / "metrics.csv").read_text()
    argv = ["train", "--resume", str(run), "--set", "train.epochs=3", "--quiet"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert re.search(rf"run/checkpoint\.safetensors: .*{message}", err), err
    assert (run / "metrics.csv").read_text() == metrics  # epoch -5 deleted rows before


_WEIGHTS = [
    pytest.param({"step": "abc"}, r"step .*got 'abc'", id="step-abc"),
    pytest.param({"epoch": 1.5}, r"epoch .*got 1\.5", id="epoch-float"),
    pytest.param({"data": {"shape": [1, -8, 8]}}, r"data\.shape\.1 .*got -8", id="shape"),
    pytest.param(
        {"data": {"shape": [1, 8, 8], "num_classes": "ten"}},
        r"data\.num_classes .*got 'ten'",
        id="k",
    ),
]


@pytest.mark.parametrize(("values", "message"), _WEIGHTS)
def test_eval_of_edited_weights_is_one_line_naming_file_field_and_value(
    run: Path, values: dict[str, Any], message: str, capsys
) -> None:
    _rewrite(run / "model.safetensors", lambda meta: {**meta, **values})
    assert main(["eval", str(run), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert re.search(rf"run/model\.safetensors: {message}", err), err


def test_a_header_that_is_a_list_is_one_line_in_eval(run: Path, capsys) -> None:
    _rewrite(run / "model.safetensors", lambda meta: [meta])
    assert main(["eval", str(run), "--device", "cpu"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "model.safetensors: its genkit metadata is a list" in err


def test_compare_reads_the_position_validated(run: Path) -> None:
    _rewrite(run / "model.safetensors", lambda meta: {**meta, "step": "abc"})
    with pytest.raises(RunError, match=r"model\.safetensors: step in its metadata: .*'abc'"):
        trained_position(run)


def _edit_header(path: Path, change: Any) -> None:
    """Change the JSON text of the file's genkit metadata in place, keeping every hash."""
    raw = path.read_bytes()
    length = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + length])
    header["__metadata__"]["genkit"] = json.dumps(
        change(json.loads(header["__metadata__"]["genkit"]))
    )
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + length :])


def test_edited_metadata_does_not_match_its_hash(run: Path) -> None:
    # a valid but different position: only the hash can tell
    _edit_header(run / "checkpoint.safetensors", _position(step=1))
    with pytest.raises(RunError, match="its metadata does not match the hash genkit recorded"):
        read_metadata(run / "checkpoint.safetensors")
    with pytest.raises(RunError, match="its metadata does not match the hash genkit recorded"):
        read_tensors(run / "checkpoint.safetensors")
