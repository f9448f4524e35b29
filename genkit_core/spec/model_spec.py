"""``ModelSpec``: the whole declarative description of a model and its training.

The component sections (``encoder: {type: mlp, hidden: [512]}``) are discriminated unions over
the registered components of each kind, so the class is built from a registry
(:func:`spec_model`) after plugins load, and its JSON Schema lists every plugin.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from ..errors import with_article
from ..registry import Registry, get_registry
from .train import TrainSpec

__all__ = ["SECTIONS", "ModelKind", "ModelSpec", "spec_model"]

ModelKind = Literal["ae", "vae", "cvae"]

SECTIONS: dict[str, str] = {
    "data": "data",
    "encoder": "encoder",
    "decoder": "decoder",
    "prior": "prior",
    "divergence": "divergence",
    "likelihood": "likelihood",
    "conditioner": "conditioner",
}
"""Spec section -> component kind, for the sections holding one component."""

LIST_SECTIONS: dict[str, str] = {"logging": "logger"}
"""Spec section -> component kind, for the sections holding a list of components."""

DEFAULTS: dict[str, dict[str, str]] = {
    "prior": {"type": "standard_normal"},
    "divergence": {"type": "gaussian_kl"},
    "likelihood": {"type": "mse"},
    "conditioner": {"type": "label_concat"},
}
"""The component a section gets when the spec leaves it out (and the model kind uses it)."""

_USES: dict[str, set[str]] = {
    "ae": {"likelihood"},
    "vae": {"likelihood", "prior", "divergence"},
    "cvae": {"likelihood", "prior", "divergence", "conditioner"},
}


class ModelSpec(BaseModel):
    """A model and how to train it. Unknown keys are errors; defaults are filled in.

    Attributes:
        model: ``ae`` (deterministic code, reconstruction only), ``vae`` (Gaussian posterior,
            likelihood + divergence) or ``cvae`` (a VAE whose encoder and decoder see a label).
        latent_dim: size of the latent code.
        plugins: modules to import before the rest of the spec is read: the one place a spec
            loads code, for plugins that are not installed as packages.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: ModelKind
    latent_dim: Annotated[int, Field(gt=0, le=65_536)]
    data: Any
    encoder: Any
    decoder: Any
    likelihood: Any = None
    prior: Any = None
    divergence: Any = None
    conditioner: Any = None
    train: TrainSpec = Field(default_factory=TrainSpec)
    logging: list[Any] = Field(default_factory=list, max_length=16)
    plugins: list[Annotated[str, Field(pattern=r"^[A-Za-z_][\w.]*$")]] = Field(
        default_factory=list, max_length=64
    )
    name: Annotated[str, Field(max_length=200)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _fill_defaults(cls, data: Any) -> Any:
        model = data.get("model") if isinstance(data, dict) else None
        if not isinstance(model, str) or model not in _USES:
            return data
        filled = dict(data)
        filled.setdefault("logging", [{"type": "csv"}])
        for section in _USES[data["model"]]:
            if section not in filled:
                filled[section] = dict(DEFAULTS[section])
        return filled

    @model_validator(mode="after")
    def _sections_match_model(self) -> ModelSpec:
        uses = _USES[self.model]
        for section in ("prior", "divergence", "conditioner"):
            present = getattr(self, section) is not None
            if present and section not in uses:
                raise _inconsistent(section, _unused_message(self.model, section))
            if not present and section in uses:
                raise _inconsistent(section, f"a {self.model} needs a {section}; remove the null")
        if self.likelihood is None:
            raise _inconsistent("likelihood", "every model needs a likelihood; remove the null")
        return self

    @property
    def kinds(self) -> dict[str, BaseModel]:
        """The component sections this spec uses, by section name."""
        return {s: getattr(self, s) for s in SECTIONS if getattr(self, s) is not None}


def _unused_message(model: str, section: str) -> str:
    if section == "conditioner":
        this = with_article(model)
        return f"only a cvae has a conditioner; remove it or set model: cvae (this is {this})"
    return f"an ae has no {section} (its code is deterministic); remove it or set model: vae"


def _inconsistent(field: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(
        "inconsistent_spec", "{message}", {"field": field, "message": message}
    )


_cache: dict[int, tuple[int, type[ModelSpec]]] = {}


def spec_model(registry: Registry | None = None) -> type[ModelSpec]:
    """The ``ModelSpec`` subclass whose sections accept exactly the registered components."""
    registry = registry or get_registry()
    cached = _cache.get(id(registry))
    if cached is not None and cached[0] == registry.version:
        return cached[1]
    fields: dict[str, Any] = {}
    for section, kind in SECTIONS.items():
        union = _union(registry, kind)
        required = section in ("data", "encoder", "decoder")
        fields[section] = union if required else union | None
    fields["logging"] = list[_union(registry, "logger")]
    namespace = {"__annotations__": fields, "__module__": __name__, "__doc__": ModelSpec.__doc__}
    for section in fields:
        if section in ModelSpec.model_fields and not ModelSpec.model_fields[section].is_required():
            namespace[section] = ModelSpec.model_fields[section]
    model = type("ModelSpec", (ModelSpec,), namespace)
    _cache[id(registry)] = (registry.version, model)
    return model


def _union(registry: Registry, kind: str) -> Any:
    members = tuple(registry.spec_model(kind, name) for name in registry.names(kind))
    if not members:
        return Annotated[Any, Field(json_schema_extra={"description": f"no {kind} is registered"})]
    return Annotated[Union[members], Field(discriminator="type")]  # noqa: UP007 - dynamic members
