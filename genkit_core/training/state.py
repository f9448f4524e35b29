"""Nested training state (optimizer state dicts, RNG states) as safetensors, without pickle.

:func:`flatten` turns a nest of dicts, lists, tuples, numbers, strings and tensors into a flat
``{name: tensor}`` dict plus a JSON-able skeleton in which each tensor is ``{"__tensor__": name}``;
:func:`unflatten` inverts it. Dict keys keep their types (optimizer state uses int keys).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

__all__ = ["flatten", "unflatten"]

_LEAVES = (str, int, float, bool, type(None))


def flatten(state: Any, prefix: str) -> tuple[dict[str, Tensor], Any]:
    """Split ``state`` into tensors named ``prefix/...`` and a JSON-able skeleton."""
    tensors: dict[str, Tensor] = {}

    def walk(node: Any, path: str) -> Any:
        if isinstance(node, Tensor):
            tensors[path] = node
            return {"__tensor__": path}
        if isinstance(node, dict):
            return {"__dict__": [[k, walk(v, f"{path}/{k}")] for k, v in node.items()]}
        if isinstance(node, tuple):
            return {"__tuple__": [walk(v, f"{path}/{i}") for i, v in enumerate(node)]}
        if isinstance(node, list):
            return [walk(v, f"{path}/{i}") for i, v in enumerate(node)]
        if isinstance(node, _LEAVES):
            return node
        raise TypeError(f"cannot store {type(node).__name__} at {path} in a checkpoint")

    return tensors, walk(state, prefix)


def unflatten(skeleton: Any, tensors: dict[str, Tensor]) -> Any:
    """Rebuild the state :func:`flatten` split.

    Raises:
        KeyError: a tensor the skeleton names is missing.
    """
    if isinstance(skeleton, list):
        return [unflatten(v, tensors) for v in skeleton]
    if isinstance(skeleton, dict):
        if "__tensor__" in skeleton:
            return tensors[skeleton["__tensor__"]]
        if "__tuple__" in skeleton:
            return tuple(unflatten(v, tensors) for v in skeleton["__tuple__"])
        return {k: unflatten(v, tensors) for k, v in skeleton["__dict__"]}
    return skeleton
