"""The run's callbacks, called in order at each event (:mod:`genkit_core.interfaces.callback`).

A callback that fails with anything but a genkit error is reported by name and event, as a
plugin's failure (:class:`~genkit_core.errors.PluginError`), not as the user's. The per-step
event goes only to the callbacks that override it, so a run without one pays nothing per step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import GenkitError, PluginError
from ..interfaces import Callback, TrainingRun

__all__ = ["Events", "callback_name"]


def callback_name(callback: Callback) -> str:
    """Its spec type (``early_stopping``), or its class name for one a program passed."""
    return str(getattr(callback.params, "type", None) or type(callback).__name__)


class Events:
    """Calls each event on every callback, in the order given."""

    def __init__(self, callbacks: Sequence[Callback]):
        self.callbacks = list(callbacks)
        self._stepping = [c for c in callbacks if type(c).on_step_end is not Callback.on_step_end]

    def fit_start(self, run: TrainingRun) -> None:
        self._each("on_fit_start", run)

    def epoch_start(self, run: TrainingRun, epoch: int) -> None:
        self._each("on_epoch_start", run, epoch)

    def step_end(self, run: TrainingRun, step: int) -> None:
        for callback in self._stepping:
            try:
                callback.on_step_end(run, step)
            except GenkitError:
                raise
            except Exception as exc:
                raise _failed(callback, "on_step_end", exc) from exc

    def evaluate_start(self, run: TrainingRun) -> None:
        self._each("on_evaluate_start", run)

    def epoch_end(self, run: TrainingRun, metrics: dict[str, float]) -> None:
        self._each("on_epoch_end", run, metrics)

    def fit_end(self, run: TrainingRun, metrics: dict[str, float]) -> None:
        self._each("on_fit_end", run, metrics)

    def save(self, run: TrainingRun) -> None:
        self._each("on_save", run)

    def evaluate_end(self, run: TrainingRun) -> None:
        self._each("on_evaluate_end", run, reverse=True)  # undo in the reverse order

    def state_dict(self) -> dict[str, Any]:
        """Each callback's state under ``<position>:<name>``, for the checkpoint."""
        return {self._key(i, c): c.state_dict() for i, c in enumerate(self.callbacks)}

    def load_state_dict(self, states: dict[str, Any]) -> list[str]:
        """Give each callback its saved state; return the names of those without one (a
        checkpoint written before they were added), which start afresh.
        """
        fresh = []
        for i, callback in enumerate(self.callbacks):
            key = self._key(i, callback)
            if key not in states:
                fresh.append(callback_name(callback))
                continue
            try:
                callback.load_state_dict(states[key])
            except GenkitError:
                raise
            except Exception as exc:
                raise _failed(callback, "load_state_dict", exc) from exc
        return fresh

    @staticmethod
    def _key(i: int, callback: Callback) -> str:
        return f"{i}:{callback_name(callback)}"

    def _each(self, event: str, *args: Any, reverse: bool = False) -> None:
        for callback in reversed(self.callbacks) if reverse else self.callbacks:
            try:
                getattr(callback, event)(*args)
            except GenkitError:
                raise
            except Exception as exc:
                raise _failed(callback, event, exc) from exc


def _failed(callback: Callback, event: str, exc: Exception) -> PluginError:
    return PluginError(
        f"callback '{callback_name(callback)}' failed in {event}: {type(exc).__name__}: {exc}"
    )
