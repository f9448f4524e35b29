"""Freed CPU memory is kept in the process: large tensors stop being page-faulted in anew."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from genkit_core import cli
from genkit_core.memory import KEEP_MEMORY_ENV, keep_freed_memory


def _glibc() -> bool:
    try:
        return sys.platform.startswith("linux") and "glibc" in os.confstr("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError):
        return False


_FAULTS = """
import resource, sys
import torch
from genkit_core.memory import keep_freed_memory
kept = keep_freed_memory() if sys.argv[1] == "1" else False
for _ in range(10):  # settle: the first blocks are new to any policy
    torch.empty(16 << 20).fill_(1.0)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    torch.empty(16 << 20).fill_(1.0)  # 64 MiB allocated, touched, freed
print(kept, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _page_faults(keep: bool) -> tuple[bool, int]:
    """Page faults of 20 more 64 MiB blocks, once 10 were allocated and freed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.pop("GLIBC_TUNABLES", None)
    done = subprocess.run(
        [sys.executable, "-c", _FAULTS, str(int(keep))],
        capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    kept, faults = done.stdout.split()
    return kept == "True", int(faults)


@pytest.mark.skipif(not _glibc(), reason="the policy is glibc's")
def test_a_freed_64_mib_tensor_is_reused_instead_of_faulted_in_again():
    kept, faults_kept = _page_faults(keep=True)
    default, faults_default = _page_faults(keep=False)
    assert kept and not default
    pages = (64 << 20) // os.sysconf("SC_PAGE_SIZE")
    assert faults_default > 10 * pages  # glibc maps each block afresh and unmaps it on free
    assert faults_kept < pages // 2  # the freed block is reused: no new pages to fault in


@pytest.mark.parametrize(
    "setting",
    [
        {KEEP_MEMORY_ENV: "0"},
        {"MALLOC_TRIM_THRESHOLD_": "1000000"},
        {"MALLOC_MMAP_THRESHOLD_": "1000000"},
        {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=1000000"},
    ],
    ids=["opted-out", "trim-set", "mmap-set", "tunables"],
)
def test_the_users_own_choice_is_left_alone(monkeypatch, setting):
    for name, value in setting.items():
        monkeypatch.setenv(name, value)
    assert keep_freed_memory() is False


def test_every_command_sets_the_policy_for_its_process(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(cli, "keep_freed_memory", lambda: calls.append(True) or True)
    assert cli.main(["plugins"]) == 0
    assert calls == [True]
