"""Whether the installed torch and torchvision work together, checked before a command uses them.

pip installs a torchvision built for another torch without complaint (a CPU torch from
PyTorch's index, then a torchvision from PyPI, which is built for CUDA). Such a pair imports,
and fails only when torchvision's C++ operators load (``operator torchvision::nms does not
exist``), which genkit meets when it first draws an image: after a whole epoch of training.
torchvision 0.(x+15) is built for torch 2.x, and a CPU build of one needs a CPU build of the
other; :func:`check_torch_pair` compares the versions and loads the operators (a few
milliseconds, without importing torchvision, which takes seconds).
"""

from __future__ import annotations

import functools
import importlib.util
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch
from packaging.version import InvalidVersion, Version

from .errors import InstallError

__all__ = ["check_torch_pair", "torchvision_for"]

_MINOR_OFFSET = 15
"""torchvision 0.(x + 15) is built for torch 2.x (0.17 for 2.2, ..., 0.29 for 2.14)."""


def torchvision_for(torch_version: str) -> str | None:
    """The torchvision release (``0.29``) built for ``torch_version`` (``2.14.1+cpu``), or None
    for a torch whose pairing is not known (not 2.x).
    """
    v = Version(torch_version)
    return f"0.{v.minor + _MINOR_OFFSET}" if v.major == 2 else None


@functools.cache
def check_torch_pair() -> None:
    """Refuse, in one line with the command that fixes it, a torchvision that does not work
    with the installed torch. Checked once per process.

    Raises:
        InstallError: torchvision is missing, built for another torch release or another
            device (CPU or CUDA), or its operators do not load.
    """
    torch_version = torch.__version__
    try:
        vision = version("torchvision")
    except PackageNotFoundError:
        raise InstallError(f"torchvision is not installed; {_fix(torch_version)}") from None
    problem = _version_problem(torch_version, vision) or _ops_problem()
    if problem:
        raise InstallError(
            f"torch {torch_version} and torchvision {vision} do not match ({problem}); "
            f"install the matching pair: {_fix(torch_version)}"
        )


def _version_problem(torch_version: str, vision: str) -> str | None:
    try:
        torch_v, have = Version(torch_version), Version(vision)
    except InvalidVersion:  # a build from source with a version of its own: trust it
        return None
    torch_build, want = torch_v.local, torchvision_for(torch_version)
    if want is not None and f"{have.major}.{have.minor}" != want:
        return f"torchvision {want} is the one built for torch {torch_v.base_version}"
    builds = {torch_build, have.local}
    if None not in builds and len(builds) == 2:
        return f"one is built for {torch_build}, the other for {have.local}"
    return None


def _ops_problem() -> str | None:
    """Why torchvision's C++ operators do not load, or None (also when it cannot tell)."""
    if "torchvision" in sys.modules:  # imported already: its operators loaded, or it said why
        return None
    spec = importlib.util.find_spec("torchvision")  # finds it without importing it
    folders = spec.submodule_search_locations if spec is not None else None
    libraries = [p for f in folders or () for p in sorted(Path(f).glob("_C*")) if p.is_file()]
    if not libraries:
        return None
    try:
        torch.ops.load_library(str(libraries[0]))  # type: ignore[no-untyped-call]
    except (OSError, RuntimeError) as exc:
        return f"its C++ operators do not load: {str(exc).splitlines()[0] if str(exc) else exc}"
    return None


def _fix(torch_version: str) -> str:
    """The pip command that installs torchvision built for this torch (and keeps the torch)."""
    v = Version(torch_version)
    vision = torchvision_for(torch_version)
    pair = f'"torch=={v.major}.{v.minor}.*"' + (f' "torchvision=={vision}.*"' if vision else "")
    cuda = torch.version.cuda
    index = f"cu{cuda.replace('.', '')}" if cuda else "cpu"
    return f"pip install {pair} --index-url https://download.pytorch.org/whl/{index}"
