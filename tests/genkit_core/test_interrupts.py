"""Ctrl-C while genkit imports (``genkit_core._interrupts``): importing torch could swallow it, and
a ``genkit sweep`` given one then ran every trial.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

# Sends the process a SIGINT from inside the import of torch, as a Ctrl-C at that moment would.
_CTRL_C_WHILE_TORCH_IMPORTS = """
import os, signal, sys

class CtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, CtrlC())
{argv}
import genkit_core
print("went on")
"""


def _run(argv: str) -> subprocess.CompletedProcess[str]:
    code = _CTRL_C_WHILE_TORCH_IMPORTS.format(argv=argv)
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


def test_the_genkit_command_ends_with_one_line_and_130() -> None:
    result = _run("sys.orig_argv = [sys.executable, '-m', 'genkit_core']")
    assert (result.returncode, result.stderr, result.stdout) == (130, "genkit: interrupted\n", "")


def test_a_program_importing_genkit_gets_its_keyboard_interrupt() -> None:
    result = _run("")
    assert result.returncode != 0 and "went on" not in result.stdout
    assert result.stderr.rstrip().endswith("KeyboardInterrupt")
