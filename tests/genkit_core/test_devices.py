"""One device check for every verb: a device the machine lacks is one clear line."""

from __future__ import annotations

import pytest
import torch

from genkit_core import SpecError
from genkit_core.cli import main
from genkit_core.devices import check_device, resolve_device

VERBS = [["eval"], ["sample"], ["reconstruct"], ["report"], ["plot", "{run}", "latent"]]


@pytest.fixture
def no_cuda(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.mark.parametrize("verb", VERBS, ids=lambda v: v[0])
def test_every_verb_says_cuda_is_missing(no_cuda, trained_runs, verb, capsys):
    # the original report: eval --device cuda failed inside the encoder's constructor
    run = str(trained_runs["vae"])
    argv = [verb[0], run, *[part.format(run=run) for part in verb[2:]], "--device", "cuda"]
    assert main(argv) == 1
    assert capsys.readouterr().err == (
        "genkit: error: --device: CUDA is not available on this machine; use cpu or auto\n"
    )


def test_train_names_the_spec_field(no_cuda, write_spec, spec_dict, tmp_path, capsys):
    spec = str(write_spec(spec_dict()))
    assert main(["train", spec, "-o", str(tmp_path / "r"), "--set", "train.device=cuda:1"]) == 1
    assert capsys.readouterr().err == (
        "genkit: error: train.device: CUDA is not available on this machine; use cpu or auto\n"
    )
    assert not (tmp_path / "r").exists()


def test_a_cuda_index_past_the_devices_is_named(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert check_device("cuda:1", "--device") == "cuda:1"
    with pytest.raises(SpecError, match=r"^--device: cuda:2: this machine has 2 CUDA devices"):
        check_device("cuda:2", "--device")


def test_a_name_that_is_no_device_is_refused():
    with pytest.raises(SpecError, match=r"'gpu' is not a device; use auto, cpu, cuda, cuda:N or"):
        resolve_device("gpu", "--device")


def test_auto_is_the_cpu_without_cuda(no_cuda):
    assert resolve_device("auto", "--device") == "cpu"
    assert check_device("auto", "train.device") == "auto"


def test_auto_is_resolved_in_one_place():
    """devices.resolve_device is the one resolver of ``auto``: the sweep's worker and the data
    parallel setup each had their own copy of it."""
    import pathlib

    import genkit_core

    root = pathlib.Path(genkit_core.__file__).parent
    copies = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if "cuda.is_available() else" in path.read_text() and path.name != "devices.py"
    ]
    assert copies == []
