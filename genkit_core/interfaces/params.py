"""Parameter models: what a spec section may say about a component.

Every component class carries a pydantic model of its parameters as ``cls.Params``. The
registry derives the spec section from it by adding ``type: Literal[<name>]``, so plugin
authors describe only their own options. Unknown keys are errors everywhere.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Annealing", "DataParams", "DivergenceParams", "Params", "spec_type"]


class Params(BaseModel):
    """Base of component parameter models: strict (unknown keys are errors) and immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def spec_type(component: object) -> str:
    """The name a spec gives ``component``, its section's ``type`` (``mc_kl``), which is what
    messages about it must say; the class name only for one built without a spec section.
    """
    name = getattr(getattr(component, "params", None), "type", None)
    return name if isinstance(name, str) else type(component).__name__


class Annealing(Params):
    r"""A schedule for the divergence weight over optimisation steps.

    ``linear``: :math:`w(t) = \min(1, t / \text{steps})` (Bowman et al., 2016).
    ``cyclical``: :math:`w(t) = \min(1, (t \bmod S) / (rS))` with ``steps`` S and ``ratio`` r,
    restarting every S steps (Fu et al., 2019).
    """

    kind: Literal["linear", "cyclical"] = Field(
        "linear",
        description="linear: the weight rises from 0 to 1 over steps and stays there; cyclical: "
        "it rises over ratio x steps and restarts every steps.",
    )
    steps: Annotated[int, Field(gt=0, le=10**9)] = Field(
        10_000, description="The ramp's length (linear) or the cycle's (cyclical), in steps."
    )
    ratio: Annotated[float, Field(gt=0, le=1)] = Field(
        0.5, description="The rising part of each cycle (cyclical only)."
    )


class DivergenceParams(Params):
    r"""Options every divergence takes: the modifiers of the training objective.

    The objective's divergence penalty is
    :math:`\beta \, w(t) \, \frac{1}{B}\sum_b D_b` without free bits, and with a free-bits floor
    :math:`\lambda` (Kingma et al., 2016)
    :math:`\beta \, w(t) \sum_j \max(\lambda, \frac{1}{B}\sum_b D_{bj})`.
    Reported divergences and the ELBO never include these modifiers.
    """

    beta: Annotated[float, Field(ge=0, le=1e6)] = Field(
        1.0,
        description="The divergence's weight in the objective: 0 turns it off, above 1 is a "
        "beta-VAE.",
    )
    anneal: Annealing | None = Field(
        None, description="A warm-up schedule for the weight; null keeps it at beta."
    )
    free_bits: Annotated[float, Field(ge=0, le=1e3)] = Field(
        0.0,
        description="lambda, a floor in nats per latent dimension below which the divergence "
        "is not penalised (0: off); needs a divergence that splits over dimensions.",
    )


class DataParams(Params):
    """Options every data source takes, applied by genkit after the source loads.

    ``binarize``: ``static`` draws x ~ Bernoulli(pixel) once (seeded by ``train.seed``);
    ``dynamic`` redraws the training set every epoch. The test set is binarised once either way,
    seeded by ``binarize_seed``: the test images belong to the data, so runs of different
    training seeds are measured on the same draw.
    """

    binarize: Literal["none", "static", "dynamic"] = Field(
        "none",
        description="static draws x ~ Bernoulli(pixel) once (seeded by train.seed); dynamic "
        "redraws the training set every epoch; the test set is binarised once either way.",
    )
    binarize_seed: Annotated[int, Field(ge=0, lt=2**63)] = Field(
        0,
        description="Seeds the test set's one binarised draw, the same for every train.seed, "
        "so runs of different seeds are measured on the same test images.",
    )
    max_train: Annotated[int, Field(gt=0)] | None = Field(
        None, description="Keep the first N training examples; null keeps all."
    )
    max_test: Annotated[int, Field(gt=0)] | None = Field(
        None, description="Keep the first N test examples; null keeps all."
    )
    flatten: bool = Field(
        False, description="Make every example a vector (C*H*W,), for MLP encoders."
    )
