"""A small classifier of the run's own labelled images, trained once and cached: the features
of FID's recipe with a LeNet in place of Inception, for digits and MNIST.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from typing import Annotated, Any

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import Tensor, nn

from genkit_core import DataError, FeatureExtractor, GenkitError, MetricData, Params, RunError
from genkit_core.data import as_float
from genkit_core.files import read_tensors, write_tensors
from genkit_core.images import as_images
from genkit_core.interfaces import DataInfo, Split, feature_cache_dir

__all__ = ["DigitClassifier", "DigitClassifierParams", "labelled_images"]

_FORMAT = "genkit digit_classifier 1"
"""What a cache file's metadata says it is; a file that says anything else is not read."""


class DigitClassifierParams(Params):
    """How the classifier is trained (each setting is part of its cache key)."""

    steps: Annotated[int, Field(gt=0, le=1_000_000)] = Field(
        1000, description="Optimisation steps (about 2 epochs of MNIST's 60,000 images)."
    )
    batch_size: Annotated[int, Field(gt=0, le=65_536)] = Field(128, description="Images per step.")
    lr: Annotated[float, Field(gt=0, le=1)] = Field(1e-3, description="Adam's learning rate.")
    seed: Annotated[int, Field(ge=0, lt=2**32)] = Field(
        0, description="Seeds the initial weights and the order of the images."
    )
    cache: bool = Field(
        True,
        description="Read and write the trained classifier in the cache "
        "($GENKIT_CACHE/features, else ~/.cache/genkit/features).",
    )


class _Network(nn.Module):
    """Two 3x3 convolutions with max-pooling, a 128-unit layer (the features), the logits."""

    def __init__(self, shape: tuple[int, int, int], classes: int):
        super().__init__()
        channels, height, width = shape
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * (height // 4) * (width // 4), 128), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Linear(128, classes)

    def forward(self, x: Tensor) -> Tensor:
        features: Tensor = self.body(x)
        return self.head(features)  # type: ignore[no-any-return]


class DigitClassifier(FeatureExtractor):
    """The 128 features of a small convolutional classifier trained on the run's training
    images and labels (the features of "FID with LeNet features" for digits and MNIST).

    Trained once per data and settings, on the CPU with a fixed seed, and kept in
    ``$GENKIT_CACHE/features/digit_classifier-<key>.safetensors`` (else under
    ``~/.cache/genkit``), the key a hash of the training images, their labels and these
    settings. A cache file that is damaged or not the one for this key is trained again and
    replaced, never executed (safetensors holds tensors only). Needs labelled images of at
    least 4x4 pixels.
    """

    Params = DigitClassifierParams
    params: DigitClassifierParams

    def __init__(self, params: DigitClassifierParams):
        super().__init__(params)
        self.network: _Network | None = None

    def prepare(self, data: MetricData) -> None:
        bundle = data.bundle
        x, y = labelled_images(bundle.train, bundle.info, data.name, "digit_classifier")
        if x.shape[-1] < 4 or x.shape[-2] < 4:
            raise DataError(
                f"digit_classifier needs images of at least 4x4 pixels; data '{data.name}' has "
                f"{tuple(x.shape[1:])}: name another feature extractor (features: {{type: pixels}})"
            )
        classes = int(bundle.info.num_classes or int(y.max()) + 1)
        key = self._key(x, y, classes)
        with torch.random.fork_rng(devices=[]):  # its weights come from the seed or the cache
            network = _Network((x.shape[1], x.shape[2], x.shape[3]), classes)
        path = feature_cache_dir() / f"digit_classifier-{key}.safetensors"
        if not (self.params.cache and _read(network, path, key)):
            accuracy = self._train(network, x, y, bundle.test, bundle.info)
            self._write(network, path, key, accuracy, len(x), data.name)
        self.network = network.eval()
        self.identity = f"digit_classifier:{key}"

    def __call__(self, images: Tensor) -> Tensor:
        if self.network is None:
            raise GenkitError("digit_classifier: call prepare(data) before asking for features")
        network = self.network.to(images.device)
        with torch.no_grad():
            features: Tensor = network.body(images)
        return features

    def _key(self, x: Tensor, y: Tensor, classes: int) -> str:
        """A hash of what the trained classifier depends on: the images, labels, settings."""
        settings = self.params.model_dump(mode="json", exclude={"type", "cache"})
        digest = hashlib.sha256(json.dumps([_FORMAT, settings, classes]).encode())
        digest.update(str(tuple(x.shape)).encode())
        digest.update(x.contiguous().numpy().data)
        digest.update(y.contiguous().numpy().data)
        return digest.hexdigest()[:16]

    def _train(
        self, network: _Network, x: Tensor, y: Tensor, test: Split, info: DataInfo
    ) -> float | None:
        """Train ``network`` on the CPU under its own seed; its test accuracy (None: no labels)."""
        p = self.params
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(p.seed)
            network.apply(_reset)  # initial weights from the seed, not from torch's state
            optimizer = torch.optim.Adam(network.parameters(), lr=p.lr)
            order = torch.randperm(len(x))
            for step in range(p.steps):
                start = step * p.batch_size % len(x)
                if start < p.batch_size and step > 0:
                    order = torch.randperm(len(x))
                batch = order[start : start + p.batch_size]
                loss = F.cross_entropy(network(x[batch]), y[batch])
                optimizer.zero_grad()
                loss.backward()  # type: ignore[no-untyped-call]  # torch leaves it unannotated
                optimizer.step()
        network.eval()
        try:
            tx, ty = labelled_images(test, info, "", "")
        except DataError:
            return None
        with torch.no_grad():
            predicted = torch.cat([network(b).argmax(1) for b in torch.split(tx, 1000)])
        return float((predicted == ty).float().mean())

    def _write(
        self, network: _Network, path: Any, key: str, accuracy: float | None, n: int, name: str
    ) -> None:
        where = "not cached"
        if self.params.cache:
            meta = {"format": _FORMAT, "key": key, "test_accuracy": accuracy}
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                write_tensors(path, network.state_dict(), meta)
                where = f"cached in {path}"
            except (OSError, RunError) as exc:  # a read-only cache: trained, not remembered
                where = f"not cached: {exc}"
        shown = "no labelled test split" if accuracy is None else f"test accuracy {accuracy:.3f}"
        print(
            f"digit_classifier: trained on {n} images of {name} for {self.params.steps} steps "
            f"({shown}); {where}",
            file=sys.stderr,
        )


def _reset(module: nn.Module) -> None:
    if isinstance(module, nn.Conv2d | nn.Linear):
        module.reset_parameters()


def _read(network: _Network, path: Any, key: str) -> bool:
    """Load the cached classifier of ``key`` into ``network``; False when there is none or the
    file is not it (said on stderr: it is then trained again and replaced).
    """
    if not os.path.lexists(path):
        return False
    try:
        if not path.is_file():  # follows a link: a link to /dev/zero is refused too
            raise RunError(f"{path}: not a regular file (a FIFO, a device or a folder); not read")
        tensors, meta = read_tensors(path)
        if meta.get("format") != _FORMAT or meta.get("key") != key:
            raise RunError(f"{path}: not genkit's digit_classifier of key {key}")
        network.load_state_dict(tensors, strict=True)
    except (RunError, RuntimeError) as exc:
        reason = str(exc).split("\n")[0][:200]
        print(
            f"digit_classifier: refused the cache file ({reason}); training again", file=sys.stderr
        )
        return False
    return True


def labelled_images(split: Split, info: DataInfo, name: str, user: str) -> tuple[Tensor, Tensor]:
    """A split's examples as ``(N, C, H, W)`` float images in [0, 1] and ``(N,)`` labels.

    Raises:
        DataError: the split has no class labels, is not images, or is not held in memory.
    """
    if info.num_classes is None or split.y is None:
        raise DataError(
            f"{user} trains on the data's class labels, and data '{name}' has none; name "
            "another feature extractor, e.g. features: {type: inception, path: WEIGHTS}"
        )
    return _images(split.x, info, name, user), torch.as_tensor(np.asarray(split.y)).long()


def _images(x: Any, info: DataInfo, name: str, user: str) -> Tensor:
    if not isinstance(x, Tensor | np.ndarray):
        raise DataError(
            f"{user} reads images held in memory, and data '{name}' is read from a folder"
        )
    images = as_images(as_float(torch.as_tensor(np.asarray(x))), info.shape)
    if images is None:
        raise DataError(
            f"{user} needs images, and data '{name}' has examples of shape {info.shape}"
        )
    return images
