"""Ctrl-C while genkit is imported is kept, not lost.

Importing torch can swallow a ``KeyboardInterrupt`` raised inside it (measured: a Ctrl-C 0.5 s
into ``python -c "import torch"`` was lost, and a ``genkit sweep`` given one then ran every
trial). Importing this module first makes Ctrl-C only note the signal while the package
imports; :func:`release` restores Python's handler and acts on a noted Ctrl-C: the ``genkit``
command ends with one line and status 130, anything else that imported genkit gets its
``KeyboardInterrupt`` there. A program that installed its own SIGINT handler, or imports genkit
outside the main thread, is left alone.
"""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from types import FrameType

__all__ = ["release"]

_noted: list[int] = []


def _note(signum: int, frame: FrameType | None) -> None:
    _noted.append(signum)


def _hold() -> object | None:
    """Note Ctrl-C instead of raising it; the handler it replaced, or None if left alone."""
    if threading.current_thread() is not threading.main_thread():
        return None
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return None
    return signal.signal(signal.SIGINT, _note)


_previous = _hold()


def release() -> None:
    """Restore Python's Ctrl-C handler, and act on a Ctrl-C noted meanwhile.

    Raises:
        SystemExit: 130, in the ``genkit`` command (``genkit ...`` or ``python -m genkit_core``),
            after one line on stderr.
        KeyboardInterrupt: anywhere else.
    """
    global _previous
    if _previous is None:
        return
    signal.signal(signal.SIGINT, _previous)  # type: ignore[arg-type]  # what getsignal gave
    _previous = None
    if not _noted:
        return
    if _is_genkit_command():
        print("genkit: interrupted", file=sys.stderr)
        raise SystemExit(130)
    raise KeyboardInterrupt


def _is_genkit_command() -> bool:
    """Whether this process is the ``genkit`` command, which answers Ctrl-C with one line."""
    argv = getattr(sys, "orig_argv", sys.argv)  # orig_argv: Python 3.10+, the whole command
    return any(Path(a).name == "genkit" for a in argv[1:2]) or argv[1:3] == ["-m", "genkit_core"]
