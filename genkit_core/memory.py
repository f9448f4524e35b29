"""Keep freed CPU memory in the process, so large tensors are not page-faulted in again and again.

torch takes every CPU tensor from the C library's ``malloc``. glibc serves a block above its
mmap threshold (which adapts, up to 32 MiB) with a fresh ``mmap`` and unmaps it on free, and
it returns the heap's top to the kernel once more than the trim threshold is free. A loop that
allocates and frees tensors of tens or hundreds of megabytes, as the importance-weighted bound
does with each chunk of K samples (a 32,768 x 784 float tensor is 103 MB), then spends much of
its time in the kernel, zeroing fresh pages: on the development machine a third to a half of the
bound's wall time (``benchmarks/iw_eval.py``, docs/performance.md). Raising both thresholds
makes the process keep what it freed and reuse it; the price is that its resident memory stays
at its high-water mark instead of falling back, which for a command that ends when its work
does is no price at all.

No maintained library does this (the usual advice is to preload jemalloc or tcmalloc, which a
``pip install`` cannot do), and it is two calls to glibc's ``mallopt``. The command line makes
them for its own process; code that imports genkit as a library decides for itself, by calling
:func:`keep_freed_memory`.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["KEEP_MEMORY_ENV", "keep_freed_memory"]

KEEP_MEMORY_ENV = "GENKIT_KEEP_FREED_MEMORY"
"""Set to ``0`` to leave the C library's memory policy as it is."""

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 1 << 30  # blocks below 1 GiB come from the heap and are reused
_TRIM_THRESHOLD = (1 << 31) - 1  # the largest an int holds: never give the heap's top back
_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; whether they were raised.

    Does nothing (and returns False) off Linux, on a C library other than glibc, when
    ``GENKIT_KEEP_FREED_MEMORY=0``, or when the user tuned malloc already through its own
    environment variables (``MALLOC_MMAP_THRESHOLD_``, ``GLIBC_TUNABLES`` and the like).
    """
    if not sys.platform.startswith("linux") or os.environ.get(KEEP_MEMORY_ENV, "1") == "0":
        return False
    if any(name in os.environ for name in _USER_SETTINGS):
        return False
    if "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", ""):
        return False
    try:  # the process's own symbols: the C library it runs on, found without a subprocess
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # a C library without mallopt
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(
        mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD) and mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)
    )
