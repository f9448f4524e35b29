"""Inception-v3's pool features (FID's space), from weights the user has on disk."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Any

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from genkit_core import FeatureExtractor, GenkitError, MetricData, Params, RunError
from genkit_core.files import read_tensors

__all__ = ["Inception", "InceptionParams"]

_SIZE = 299
"""The side Inception-v3 was trained at; images are resized to it (bilinear), as FID does."""


class InceptionParams(Params):
    """Where the weights are."""

    path: str = Field(
        description="torchvision's inception_v3 weights (IMAGENET1K_V1) on disk: a "
        ".safetensors file, or the .pth torchvision downloads (read with weights_only).",
        examples=["~/weights/inception_v3_google-0cc3c7bd.pth"],
    )
    batch_size: Annotated[int, Field(gt=0, le=4096)] = Field(
        32, description="Images through the network at a time (299x299 each)."
    )


class Inception(FeatureExtractor):
    """The 2048 pool features of torchvision's Inception-v3 (FID's "pool3"), from weights on disk.

    Images are resized to 299x299 (bilinear), grey ones repeated to three channels, and scaled
    to [-1, 1] as the network was trained. genkit never downloads the weights: fetch
    torchvision's ``inception_v3`` weights (IMAGENET1K_V1) once and name the file in ``path``.
    These are torchvision's port, not the TensorFlow graph of the FID paper, so the values are
    close to, not equal to, published FIDs.
    """

    Params = InceptionParams
    params: InceptionParams

    def __init__(self, params: InceptionParams):
        super().__init__(params)
        self.network: nn.Module | None = None

    def prepare(self, data: MetricData) -> None:
        if self.network is not None:
            return
        path = Path(self.params.path).expanduser()
        weights = _read_weights(path)
        # imported here: torchvision takes seconds to import
        from torchvision.models import inception_v3

        aux = any(k.startswith("AuxLogits.") for k in weights)
        with torch.device("meta"):  # no memory or time spent on weights the file replaces
            network = inception_v3(
                weights=None, aux_logits=aux, transform_input=False, init_weights=False
            )
        try:
            network.load_state_dict(weights, strict=True, assign=True)
        except RuntimeError as exc:
            first = str(exc).split("\n")[1].strip() if "\n" in str(exc) else str(exc)
            raise RunError(
                f"features.path: {path} does not hold torchvision's inception_v3 weights "
                f"({first[:160]}); give the IMAGENET1K_V1 weights of torchvision.models"
            ) from None
        network.fc = nn.Identity()
        self.network = network.eval()
        self.identity = f"inception:{_file_hash(path)}"

    def __call__(self, images: Tensor) -> Tensor:
        if self.network is None:
            raise GenkitError("inception: call prepare(data) before asking for features")
        network = self.network.to(images.device)
        out = []
        with torch.no_grad():
            for batch in torch.split(images, self.params.batch_size):
                if batch.shape[1] == 1:
                    batch = batch.expand(-1, 3, -1, -1)
                batch = F.interpolate(
                    batch, size=(_SIZE, _SIZE), mode="bilinear", align_corners=False
                )
                out.append(network(batch * 2 - 1))
        return torch.cat(out)


def _read_weights(path: Path) -> dict[str, Any]:
    """The tensors of a weights file, read without executing anything in it.

    Raises:
        RunError: there is no such file, or it cannot be read as tensors.
    """
    if not path.is_file():
        raise RunError(
            f"features.path: no such file {path}; genkit does not download Inception's weights: "
            "save torchvision's inception_v3 IMAGENET1K_V1 weights there and try again"
        )
    if path.suffix == ".safetensors":
        return read_tensors(path)[0]
    try:
        weights = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a foreign file
        raise RunError(
            f"features.path: {path} is not a weights file torch can read safely "
            f"({type(exc).__name__}); give a .safetensors or torchvision's .pth"
        ) from None
    if not isinstance(weights, dict) or not all(isinstance(v, Tensor) for v in weights.values()):
        raise RunError(f"features.path: {path} holds no state dict of tensors")
    return weights


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]
