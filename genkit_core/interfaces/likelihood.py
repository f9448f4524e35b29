"""Likelihood: the data distribution p(x | decoder output)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from pydantic import BaseModel
from torch import Tensor, nn

from .params import Params

__all__ = ["Likelihood"]


class Likelihood(nn.Module, ABC):
    """log p(x | params) summed over data elements, and its mean and samples for generation.

    The decoder emits ``(B, num_params, *data_shape)``; ``params[:, k]`` is the k-th distribution
    parameter of every data element (e.g. k=0 mean, k=1 log-scale).

    Args:
        params: the validated spec section.
        data_shape: shape of one example, e.g. ``(1, 28, 28)``.

    Subclasses may set ``self.num_params`` in ``__init__`` when it depends on their parameters.
    """

    kind: ClassVar[str] = "likelihood"
    Params: ClassVar[type[BaseModel]] = Params
    num_params: int = 1
    normalized: ClassVar[bool] = True
    """False when ``log_prob`` drops its normalising constant (then it is not a log-density)."""

    def __init__(self, params: BaseModel, data_shape: tuple[int, ...]):
        super().__init__()
        self.params = params
        self.data_shape = tuple(data_shape)

    @abstractmethod
    def log_prob(self, x: Tensor, params: Tensor) -> Tensor:
        """``x (B, *data_shape)``, ``params (B, P, *data_shape)`` -> ``(B,)`` in nats."""

    @abstractmethod
    def mean(self, params: Tensor) -> Tensor:
        """The distribution's mean ``(B, *data_shape)``: what a reconstruction or sample shows."""

    @abstractmethod
    def sample(self, params: Tensor) -> Tensor:
        """One draw ``(B, *data_shape)``."""

    @staticmethod
    def channels(params: Tensor) -> tuple[Tensor, ...]:
        """``params (B, P, *data_shape)`` -> its P channels ``(B, *data_shape)``, as views.

        Use this rather than ``params[:, k]``: the backward of indexing fills a zero tensor of
        the whole decoder output and copies into it for every channel taken, every step; a
        single channel is a plain view here (its backward copies nothing), and several are
        unbound in one operation (whose backward stacks their gradients once).
        """
        if params.shape[1] == 1:
            return (params.squeeze(1),)
        return params.unbind(1)

    def support_error(self, x: Tensor) -> str | None:
        """Why data ``x`` (in [0, 1] for 8-bit images) lies outside this likelihood's support.

        Checked on the data before training starts; None means the data is fine.
        """
        return None
