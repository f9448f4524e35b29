"""``RunView``: a trained run with the examples its figures are drawn from.

Figures need the model and a few thousand test examples (and, for an AE's samples, train
examples); this module loads them once, on one device, as float tensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Subset

from ..data import as_float, load_data, make_batches
from ..interfaces import DataBundle, DataInfo, Split
from ..model import LatentVariableModel
from ..run import load_run

__all__ = ["RunView", "open_run"]


@dataclass
class RunView:
    """A loaded run.

    Attributes:
        run_dir: the run directory.
        model: the trained model, in eval mode.
        test_x: ``(N, *shape)`` the first test examples, float.
        test_y: ``(N,)`` class labels or ``(N, C)`` conditions, or None.
        train_x: ``(M, *shape)`` the first train examples (for fitting an AE's code density).
        train_y: their labels or conditions, or None.
        data: the run's whole data set, loaded once (the metrics use all of its test split).
    """

    run_dir: Path
    model: LatentVariableModel
    test_x: Tensor
    test_y: Tensor | None
    train_x: Tensor
    train_y: Tensor | None
    data: DataBundle

    @property
    def info(self) -> DataInfo:
        """Shape and labels of the data."""
        return self.model.data_info

    @property
    def class_labels(self) -> Tensor | None:
        """``(N,)`` test class labels (for colouring), or None when the data has no classes."""
        if self.test_y is None or self.info.num_classes is None or self.test_y.dim() != 1:
            return None
        return self.test_y

    def condition(self, y: Tensor | None) -> Tensor | None:
        """What the model takes as its condition: y for a cvae, nothing otherwise."""
        return y if self.model.conditioner is not None else None

    @torch.no_grad()
    def codes(self, x: Tensor, y: Tensor | None) -> Tensor:
        """``(N, L)`` posterior means (VAE, CVAE) or codes (AE), in batches of 1000, flattened:
        L is every number of one latent (``prod(latent_shape)``, for a grid of codes too).
        """
        y = self.condition(y)
        parts = [
            self.model.encode(x[i : i + 1000], None if y is None else y[i : i + 1000]).flatten(1)
            for i in range(0, len(x), 1000)
        ]
        return torch.cat(parts)

    @torch.no_grad()
    def decode_mean(self, z: Tensor, y: Tensor | None = None) -> Tensor:
        """``(N, *shape)`` the likelihood's mean at flat latents ``(N, L)`` (as :meth:`codes`
        gives them; they are put back into the latent's shape).
        """
        z = z.view(len(z), *self.model.posterior.latent_shape)
        return self.model.likelihood.mean(self.model.decode(z, self.condition(y)))


def open_run(
    run_dir: str | Path, device: str = "cpu", max_test: int = 2000, max_train: int = 5000
) -> RunView:
    """Load a run's model and its first ``max_test`` test and ``max_train`` train examples.

    Raises:
        RunError: the directory is not a run, or its files are missing or corrupt.
        DataError: the run's data cannot be loaded.
    """
    model = load_run(run_dir, device=device)
    assert model.spec is not None  # load_run builds the model from the run's spec
    data = load_data(model.spec)
    dev = torch.device(device)
    test_x, test_y = _examples(data.test, data.info, model, max_test, dev)
    train_x, train_y = _examples(data.train, data.info, model, max_train, dev)
    return RunView(Path(run_dir), model, test_x, test_y, train_x, train_y, data)


def _examples(
    split: Split, info: DataInfo, model: LatentVariableModel, n: int, device: torch.device
) -> tuple[Tensor, Tensor | None]:
    """The first n examples of a split as float tensors on the device, with their labels."""
    split = _first(split, n)
    labelled = model.conditioner is not None or info.num_classes is not None
    if split.y is None and isinstance(split.x, np.ndarray | Tensor):
        labelled = False
    batches = make_batches(split, info, labelled, 1000, device, placement="device", num_workers=0)
    xs, ys = zip(*batches.in_order(), strict=True)
    return as_float(torch.cat(xs)), None if ys[0] is None else torch.cat(ys)


def _first(split: Split, n: int) -> Split:
    if isinstance(split.x, np.ndarray | Tensor):
        return Split(split.x[:n], None if split.y is None else split.y[:n])
    return Split(Subset(split.x, range(min(n, len(split)))), None)
