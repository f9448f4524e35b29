"""The model kinds ``ae``, ``vae`` and ``cvae``: shorthands that fill in a spec's sections.

This is the one place their rules live: which component each kind gets when the spec leaves a
section out, which sections it may not have, and whether its data must be labelled. Everything
else (the trainer, evaluation, the report) asks the built model what it has (a prior, a
stochastic posterior, a conditioner), never which kind it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import with_article

__all__ = [
    "LIST_DEFAULTS",
    "MODEL_KINDS",
    "ModelKind",
    "ModelKindName",
    "fill_sections",
    "section_problems",
]

ModelKindName = Literal["ae", "vae", "cvae"]


@dataclass(frozen=True)
class ModelKind:
    """What a model kind means for its spec.

    Attributes:
        name: what ``model:`` says.
        summary: one line for messages and docs.
        defaults: the component each section gets when the spec leaves it out.
        required: sections that may not be ``null``.
        forbidden: sections this kind never has.
        labelled: whether the data must carry a condition (class labels or vectors).
    """

    name: str
    summary: str
    defaults: dict[str, dict[str, Any]]
    required: frozenset[str] = field(default_factory=frozenset)
    forbidden: frozenset[str] = field(default_factory=frozenset)
    labelled: bool = False


_ALWAYS = frozenset({"likelihood", "posterior", "objective"})
_COMMON = {"likelihood": {"type": "mse"}, "objective": {"type": "elbo"}}
_VAE = {
    **_COMMON,
    "posterior": {"type": "gaussian"},
    "prior": {"type": "standard_normal"},
    "divergence": {"type": "gaussian_kl"},
}

MODEL_KINDS: dict[str, ModelKind] = {
    "ae": ModelKind(
        "ae",
        "an autoencoder: a deterministic code (point-mass posterior); a divergence (mmd) and a "
        "prior are optional, and a prior fitted after training lets it sample",
        {**_COMMON, "posterior": {"type": "delta"}},
        required=_ALWAYS,
        forbidden=frozenset({"conditioner"}),
    ),
    "vae": ModelKind(
        "vae",
        "a variational autoencoder: a Gaussian posterior, a prior and a divergence",
        _VAE,
        required=_ALWAYS | {"prior", "divergence"},
        forbidden=frozenset({"conditioner"}),
    ),
    "cvae": ModelKind(
        "cvae",
        "a conditional VAE: a VAE whose encoder and decoder also see a label or condition",
        {**_VAE, "conditioner": {"type": "label_concat"}},
        required=_ALWAYS | {"prior", "divergence", "conditioner"},
        labelled=True,
    ),
}
"""Every model kind, by the name ``model:`` gives."""

_PRIOR_FOR_DIVERGENCE = {"type": "standard_normal"}

LIST_DEFAULTS: dict[str, list[dict[str, Any]]] = {
    "logging": [{"type": "csv"}],
    "callbacks": [{"type": "pictures"}, {"type": "collapse_warning"}],
}
"""What a list section holds when a spec leaves it out, for every model kind. A spec that
writes the section writes all of it: ``logging: []`` logs nowhere but the run's own record."""


def fill_sections(data: dict[str, Any]) -> dict[str, Any]:
    """A copy of a spec mapping with the sections its kind fills in when they are left out.

    An ``ae`` given a divergence but no prior gets the standard normal prior to compare with.
    """
    model = data.get("model")
    kind = MODEL_KINDS.get(model) if isinstance(model, str) else None
    if kind is None:
        return data
    filled = dict(data)
    for section, default in kind.defaults.items():
        filled.setdefault(section, dict(default))
    for section, listed in LIST_DEFAULTS.items():
        filled.setdefault(section, [dict(item) for item in listed])
    if filled.get("divergence") is not None and "prior" not in filled:
        filled["prior"] = dict(_PRIOR_FOR_DIVERGENCE)
    return filled


def section_problems(model: str, present: dict[str, bool]) -> list[tuple[str, str]]:
    """``(section, message)`` for each section a spec of this kind has but may not, or lacks."""
    kind = MODEL_KINDS[model]
    problems = []
    for section in sorted(kind.forbidden):
        if present.get(section):
            problems.append((section, _forbidden_message(kind, section)))
    for section in sorted(kind.required):
        if not present.get(section):
            problems.append((section, f"a {model} needs a {section}; remove the null"))
    if present.get("divergence") and not present.get("prior"):
        problems.append(("prior", "a divergence compares the posterior with a prior; add one"))
    return problems


def _forbidden_message(kind: ModelKind, section: str) -> str:
    if section == "conditioner":
        this = with_article(kind.name)
        return f"only a cvae has a conditioner; remove it or set model: cvae (this is {this})"
    return f"{with_article(kind.name)} has no {section}; remove it"
