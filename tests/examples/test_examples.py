"""Every example (examples/ and its folders, the zoo included) and benchmark spec trains for one
short epoch on tiny local stand-in data.

Each spec's data is redirected (``--set data.path=...`` / ``data.root=...``) to a few examples
of the same shape written in tmp_path, so no test downloads anything or needs real data sets.
"""

from __future__ import annotations

import importlib.util
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml

from genkit_core.cli import main

ROOT = Path(__file__).resolve().parents[2]
NEEDS_ITS_PACKAGE = ROOT / "examples" / "plugin"
"""The plugin example's spec needs its package installed: test_plugin_package.py trains it."""
SPECS = sorted(
    [*ROOT.glob("examples/**/*.yaml"), *ROOT.glob("benchmarks/specs/*.yaml")],
    key=str,
)
SPECS = [s for s in SPECS if not s.is_relative_to(NEEDS_ITS_PACKAGE)]
RNG = np.random.default_rng(0)
SHORT = [
    "train.epochs=1", "train.device=cpu", "train.progress=false", "train.num_workers=0",
    "train.batch_size=16", "train.eval_batch_size=16", "data.max_train=48", "data.max_test=16",
]  # fmt: skip


def _idx(path: Path, values: np.ndarray) -> None:
    header = struct.pack(">HBB", 0, 8, values.ndim) + struct.pack(f">{values.ndim}I", *values.shape)
    path.write_bytes(header + values.astype(np.uint8).tobytes())


def _torchvision_mnist(folder: str) -> Callable[[Path], list[str]]:
    def write(tmp_path: Path) -> list[str]:
        raw = tmp_path / folder / "raw"
        raw.mkdir(parents=True)
        for prefix, n in (("train", 48), ("t10k", 16)):
            _idx(raw / f"{prefix}-images-idx3-ubyte", RNG.integers(0, 256, (n, 28, 28)))
            _idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
        return [f"data.root={tmp_path}", "data.download=false"]

    return write


def _tensor_file(tmp_path: Path) -> list[str]:
    images = RNG.integers(0, 256, (64, 28, 28), dtype=np.uint8)
    labels = np.arange(64) % 10
    np.savez(path := tmp_path / "mnist.npz", x_train=images[:48], y_train=labels[:48],
             x_test=images[48:], y_test=labels[48:])  # fmt: skip
    return [f"data.path={path}"]


def _image_folder(tmp_path: Path) -> list[str]:
    script = importlib.util.spec_from_file_location(
        "make_digit_folder", ROOT / "examples/make_digit_folder.py"
    )
    module = importlib.util.module_from_spec(script)
    script.loader.exec_module(module)  # the example's own script writes the folder
    module.write_digit_folder(tmp_path / "digits", limit=80)
    return [f"data.path={tmp_path / 'digits'}"]


STAND_INS: dict[str, Callable[[Path], list[str]]] = {
    "tensor_file": _tensor_file,
    "mnist": _torchvision_mnist("MNIST"),
    "fashion_mnist": _torchvision_mnist("FashionMNIST"),
    "image_folder": _image_folder,
}  # any other data (digits, say) is local already and only limited by SHORT


def _param(spec: Path):
    """The zoo's specs hold the papers' networks (up to ~20M parameters): slow, but run."""
    zoo = spec.is_relative_to(ROOT / "examples" / "zoo")
    return pytest.param(
        spec, id=str(spec.relative_to(ROOT)), marks=[pytest.mark.slow] if zoo else []
    )


@pytest.mark.parametrize("spec", [_param(s) for s in SPECS])
def test_spec_trains_one_short_epoch(spec: Path, tmp_path: Path, capsys):
    raw = yaml.safe_load(spec.read_text())
    data_type = raw["data"]["type"]
    redirect = STAND_INS.get(data_type, lambda _: [])(tmp_path)
    run = tmp_path / "run"
    sets = [arg for item in [*SHORT, *redirect] for arg in ("--set", item)]
    status = main(["train", str(spec), "-o", str(run), "-q", *sets])
    assert status == 0, capsys.readouterr().err
    images = ["reconstructions.png"] + ([] if raw["model"] == "ae" else ["samples.png"])
    for name in ("spec.yaml", "model.safetensors", *images):
        assert (run / name).is_file(), f"{spec.name} left no {name}"
