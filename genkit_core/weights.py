"""Putting saved tensors back into a model: from weights files and checkpoints alike.

A checkpoint stores the model's tensors under ``model/``; :func:`model_tensors` takes them out.
:func:`load_weights` refuses tensors that do not fit the model with a reason a user can act on,
and reads the names of earlier genkit versions (before the ``posterior`` component, the
posterior's head was the model's ``head``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from .errors import RunError

__all__ = ["load_weights", "model_tensors"]

_PREFIX = "model/"
_RENAMED = {"head.": "posterior.head."}
"""Tensor-name prefixes of genkit 0.1 -> their names now."""


def model_tensors(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The model's own tensors of a checkpoint (stored under ``model/``), without the prefix."""
    return {k.removeprefix(_PREFIX): v for k, v in tensors.items() if k.startswith(_PREFIX)}


def _renamed(weights: dict[str, torch.Tensor], expected: set[str]) -> dict[str, torch.Tensor]:
    """Weights with the names of earlier genkit versions mapped to today's, where that fits."""
    renamed = {}
    for name, value in weights.items():
        for old, new in _RENAMED.items():
            if name.startswith(old) and name not in expected:
                name = new + name.removeprefix(old)
        renamed[name] = value
    return renamed


def load_weights(model: torch.nn.Module, weights: dict[str, torch.Tensor], source: Path) -> None:
    """Load a state dict, refusing one that does not fit the model, with a readable reason.

    Raises:
        RunError: names the missing, unexpected or mis-shaped tensors, integers or booleans
            where the model holds floats (or the reverse), or a tensor holding NaN or inf.
    """
    expected = model.state_dict()
    weights = _renamed(weights, set(expected))
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    shapes = [
        f"{k} {tuple(weights[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in weights and weights[k].shape != v.shape
    ]
    kinds = [
        f"{k} {weights[k].dtype} vs {v.dtype}".replace("torch.", "")
        for k, v in expected.items()
        if k in weights
        and weights[k].dtype != v.dtype  # a float for a float is cast, as ever
        and not (weights[k].is_floating_point() and v.is_floating_point())
    ]
    problems = []
    if missing:
        problems.append(f"missing {', '.join(missing[:5])}{' ...' * (len(missing) > 5)}")
    if unexpected:
        problems.append(f"unexpected {', '.join(unexpected[:5])}{' ...' * (len(unexpected) > 5)}")
    if shapes:
        problems.append(f"shape mismatch {', '.join(shapes[:5])}")
    if kinds:
        problems.append(f"dtype mismatch {', '.join(kinds[:5])}")
    if problems:
        raise RunError(
            f"{source}: the weights do not fit the model of spec.yaml ({'; '.join(problems)}); "
            "was the spec edited after training?"
        )
    _check_finite(weights, source)
    model.load_state_dict(weights)


def _check_finite(weights: dict[str, torch.Tensor], source: Path) -> None:
    """Refuse non-finite weights. genkit never saves them (training stops first): such a file was
    edited or damaged, and its model would give NaN metrics and fail the report's PCA.
    """
    for name, tensor in weights.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise RunError(
                f"{source}: its tensor {name} holds NaN or inf values, so the model cannot be "
                "used (genkit never saves such weights: the file was edited or damaged); "
                "restore it from a backup or train again"
            )
