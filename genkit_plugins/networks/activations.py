"""The activation functions networks may name in a spec."""

from __future__ import annotations

from typing import Literal

from torch import nn

__all__ = ["Activation", "activation"]

Activation = Literal["relu", "tanh", "elu", "gelu", "silu", "leaky_relu", "softplus"]

_MODULES: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
    "softplus": nn.Softplus,
}


def activation(name: Activation) -> nn.Module:
    """A fresh activation module by name."""
    return _MODULES[name]()
