"""Condition on a learned embedding of the class label instead of its one-hot code."""

from __future__ import annotations

from typing import Annotated, cast

import torch
from pydantic import Field
from torch import Tensor, nn

from genkit_core import DataInfo, Params, SpecError

from .label_concat import LabelConcat

__all__ = ["LabelEmbedding", "LabelEmbeddingParams"]


class LabelEmbeddingParams(Params):
    """The size of the label embedding."""

    dim: Annotated[int, Field(gt=0, le=65_536)] = Field(
        16, description="d, the size of each label's learned embedding."
    )


class LabelEmbedding(LabelConcat):
    r"""Joins :math:`e_y = E[y] \in \mathbb R^{d}`, a learned row of an ``nn.Embedding``, to x and
    z the way ``label_concat`` joins a one-hot code: extra features for flat data, constant
    extra channels for images; the latent becomes ``(L + d,)``.

    Useful when there are many classes (the one-hot code grows with K, this does not) and when
    classes should share structure. Needs class labels; vectors are already an embedding
    (use ``label_concat``).
    """

    Params = LabelEmbeddingParams

    def __init__(self, params: LabelEmbeddingParams, data: DataInfo, latent_dim: int):
        super().__init__(params, data, latent_dim)
        if data.num_classes is None:
            raise SpecError(
                f"label_embedding embeds class labels, and '{data.name}' has continuous "
                "conditions instead; use conditioner: {type: label_concat}",
                field="type",
            )
        self.width = params.dim
        self.embedding = nn.Embedding(data.num_classes, params.dim)

    def encode_condition(self, y: Tensor, dtype: torch.dtype) -> Tensor:
        """``(B,)`` labels to their embeddings ``(B, dim)``."""
        return cast(Tensor, self.embedding(y.long())).to(dtype)  # nn.Module calls are typed Any
