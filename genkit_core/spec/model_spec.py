"""``ModelSpec``: the whole declarative description of a model and its training.

The component sections (``encoder: {type: mlp, hidden: [512]}``) are discriminated unions over
the registered components of each kind, so the class is built from a registry
(:func:`spec_model`) after plugins load, and its JSON Schema lists every plugin.
"""

from __future__ import annotations

from typing import Annotated, Any, Union, cast

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from ..interfaces import COMPONENT_KINDS
from ..registry import Registry, get_registry
from .kinds import MODEL_KINDS, ModelKindName, fill_sections, section_problems
from .train import TrainSpec

__all__ = ["LIST_SECTIONS", "SECTIONS", "ModelSpec", "spec_model"]

_REQUIRED = ("data", "encoder", "decoder")


class ModelSpec(BaseModel):
    """A model and how to train it. Unknown keys are errors; defaults are filled in.

    Attributes:
        model: ``ae`` (a deterministic code), ``vae`` (Gaussian posterior, prior and divergence)
            or ``cvae`` (a VAE whose encoder and decoder see a label): shorthands that fill in
            the sections a spec leaves out (:mod:`genkit_core.spec.kinds`).
        latent_dim: size of the latent code.
        plugins: modules to import before the rest of the spec is read: the one place a spec
            loads code, for plugins that are not installed as packages.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: ModelKindName
    latent_dim: Annotated[int, Field(gt=0, le=65_536)]
    data: Any
    encoder: Any
    posterior: Any = None
    decoder: Any
    likelihood: Any = None
    prior: Any = None
    divergence: Any = None
    objective: Any = None
    conditioner: Any = None
    train: TrainSpec = Field(default_factory=TrainSpec)
    logging: list[Any] = Field(default_factory=list, max_length=16)
    callbacks: list[Any] = Field(default_factory=list, max_length=16)
    plugins: list[Annotated[str, Field(pattern=r"^[A-Za-z_][\w.]*$")]] = Field(
        default_factory=list, max_length=64
    )
    name: Annotated[str, Field(max_length=200)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _fill_defaults(cls, data: Any) -> Any:
        model = data.get("model") if isinstance(data, dict) else None
        if not isinstance(model, str) or model not in MODEL_KINDS:
            return data
        return fill_sections(data)

    @model_validator(mode="after")
    def _sections_match_model(self) -> ModelSpec:
        present = {section: getattr(self, section) is not None for section in SECTIONS}
        for section, message in section_problems(self.model, present):
            raise _inconsistent(section, message)
        return self

    @property
    def kinds(self) -> dict[str, BaseModel]:
        """The component sections this spec uses, by section name."""
        return {s: getattr(self, s) for s in SECTIONS if getattr(self, s) is not None}


_BY_SECTION = {k.section: name for name, k in COMPONENT_KINDS.items() if k.section}
SECTIONS: dict[str, str] = {
    f: _BY_SECTION[f] for f in ModelSpec.model_fields if f in _BY_SECTION and not
    COMPONENT_KINDS[_BY_SECTION[f]].many
}  # fmt: skip
"""Spec section -> component kind, for the sections holding one component, in the spec's
order (derived from :data:`~genkit_core.interfaces.COMPONENT_KINDS`)."""

LIST_SECTIONS: dict[str, str] = {
    f: _BY_SECTION[f] for f in ModelSpec.model_fields if f in _BY_SECTION and
    COMPONENT_KINDS[_BY_SECTION[f]].many
}  # fmt: skip
"""Spec section -> component kind, for the sections holding a list of components."""


def _inconsistent(field: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(
        "inconsistent_spec", "{message}", {"field": field, "message": message}
    )


def spec_model(registry: Registry | None = None) -> type[ModelSpec]:
    """The ``ModelSpec`` subclass whose sections accept exactly the registered components."""
    registry = registry or get_registry()
    cached = registry.derived.get("spec_model")
    if cached is not None and cached[0] == registry.version:
        return cast("type[ModelSpec]", cached[1])
    fields: dict[str, Any] = {}
    for section, kind in SECTIONS.items():
        union = _union(registry, kind)
        fields[section] = union if section in _REQUIRED else union | None
    for section, kind in LIST_SECTIONS.items():
        fields[section] = list[_union(registry, kind)]  # type: ignore[misc]  # built at runtime
    namespace: dict[str, Any] = {
        "__annotations__": fields,
        "__module__": __name__,
        "__doc__": ModelSpec.__doc__,
    }
    for section in fields:
        if section in ModelSpec.model_fields and not ModelSpec.model_fields[section].is_required():
            namespace[section] = ModelSpec.model_fields[section]
    model = type("ModelSpec", (ModelSpec,), namespace)
    registry.derived["spec_model"] = (registry.version, model)
    return model


def _union(registry: Registry, kind: str) -> Any:
    members = tuple(registry.spec_model(kind, name) for name in registry.names(kind))
    if not members:
        return Annotated[Any, Field(json_schema_extra={"description": f"no {kind} is registered"})]
    return Annotated[Union[members], Field(discriminator="type")]  # noqa: UP007 - dynamic members
