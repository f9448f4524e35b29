"""The command in a pipeline: a reader that stops early ends it quietly, with no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.parametrize("verb", [["plugins"], ["schema"], ["plugins", "--help"]], ids=str)
def test_a_closed_pipe_ends_the_command_quietly(verb: list[str]) -> None:
    # `genkit plugins | head -3`: the reader is gone before genkit writes (Python ignores
    # SIGPIPE, so the write raises BrokenPipeError instead of killing the process)
    child = subprocess.Popen(
        [sys.executable, "-m", "genkit_core", *verb],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    child.stdout.close()
    err = child.stderr.read().decode()
    status = child.wait(timeout=120)
    assert err == ""
    assert status in (0, 141)  # --help may fit in the pipe's buffer before the reader leaves


# (not tqdm: torch.hub imports it)
HEAVY = ("torchvision", "sklearn", "scipy", "matplotlib", "tensorboard", "torch._dynamo")


@pytest.mark.slow
def test_the_light_verbs_import_no_heavy_library(tmp_path: Path) -> None:
    # validate builds the model on the meta device, where torch itself imports torch._dynamo;
    # plugins and schema must not pull in anything a command does not use
    probe = (
        "import sys\nfrom genkit_core.cli import main\n"
        "for verb in (['plugins', '--json'], ['schema']):\n"
        "    assert main(verb) == 0\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "[]"
