"""Ctrl-C and SIGTERM during training: the first asks for a checkpoint and a clean stop."""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any

__all__ = ["StopSignals"]


class StopSignals:
    """The first Ctrl-C (or SIGTERM, which clusters send before killing a job) sets
    :attr:`requested`, and the trainer checkpoints and stops after the current step; a second
    one stops at once (``KeyboardInterrupt``). Outside the main thread, signals are left alone.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.requested = False
        self.signum: int = signal.SIGINT
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopSignals:
        try:
            for signum in self.SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        except ValueError:  # not the main thread
            pass
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested, self.signum = True, signal.Signals(signum)

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
