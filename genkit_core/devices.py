"""Devices, as a spec (``train.device``) or the command line (``--device``) names them.

One check for every verb: a device this machine lacks is one clear error before anything is
built ("CUDA is not available on this machine"), never a failure deep inside a component.
"""

from __future__ import annotations

import re

from .errors import SpecError

__all__ = ["DEVICE_PATTERN", "check_device", "resolve_device"]

DEVICE_PATTERN = r"^(auto|cpu|cuda(:\d+)?|mps)$"
"""What a device may be called: ``auto`` (CUDA when there is one, else the CPU), ``cpu``,
``cuda``, ``cuda:N`` or ``mps``."""


def check_device(device: str, field: str) -> str:
    """Return ``device`` unchanged if this machine has it.

    Args:
        device: the name as given.
        field: where it was given, for the message (``train.device``, ``--device``).

    Raises:
        SpecError: the name is not a device, or this machine has no such device.
    """
    if not re.match(DEVICE_PATTERN, device):
        message = f"'{device}' is not a device; use auto, cpu, cuda, cuda:N or mps"
        raise SpecError(message, field=field)
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise SpecError("CUDA is not available on this machine; use cpu or auto", field=field)
        index, count = int(device.partition(":")[2] or 0), torch.cuda.device_count()
        if index >= count:
            raise SpecError(
                f"{device}: this machine has {count} CUDA device{'s' * (count != 1)} "
                f"(cuda:0 to cuda:{count - 1})",
                field=field,
            )
    if device == "mps":
        import torch

        if not torch.backends.mps.is_available():
            raise SpecError("MPS is not available on this machine; use cpu or auto", field=field)
    return device


def resolve_device(device: str, field: str) -> str:
    """:func:`check_device`, with ``auto`` resolved: ``cuda`` when CUDA is available, else ``cpu``.

    Raises:
        SpecError: as :func:`check_device`.
    """
    if check_device(device, field) != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
