"""The models of an entity as the API sends it: one per (entity type, device family), each with the state
model of its family, chosen by `type` and `device`.

They describe and are not run on a request: the entity manager serialises entities itself (the tests hold
every entity the server sends to these models). Their validators and serialisers are large (one model per
kind, each with its state), so this module is imported only where they are needed: when the OpenAPI
document is first built (coachiq/api/openapi.py) and by the tests.
"""

from __future__ import annotations

import operator
from functools import reduce
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, create_model

from coachiq.entities.states import STATE_MODELS, device_types

__all__ = ["EntityList", "EntityOut"]


class _EntityBase(BaseModel):
    """What every entity has; its `type`, `device` and `state` come with the model of its kind."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(examples=["light.galley_ceiling"])
    name: str
    position_critical: bool = Field(description="Moves a part of the coach: held by the interlocks and the safe "
                                                "state (GET /api/v2/safety `motion_blocked` says why, by type).")
    area: str
    capabilities: list[str]
    available: bool = Field(description="False until the device is heard, and when it has gone quiet.")
    updated_at: float | None = Field(description="Seconds since the epoch of the last state change.")


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _kind(entity: Any) -> str:
    """The tag of an entity's model: "<type>/<device>"."""
    if isinstance(entity, dict):
        return f"{entity.get('type')}/{entity.get('device')}"
    return f"{getattr(entity, 'type', None)}/{getattr(entity, 'device', None)}"


def _literal(value: str) -> Any:
    """Literal[value] for a value known only at run time."""
    return Literal[value]


def _entity_models() -> Any:
    """One model per (entity type, device family), chosen by both (in the OpenAPI document, one of them)."""
    tagged: list[Any] = []
    for device, types in device_types().items():
        for entity_type in types:
            model = create_model(
                f"{_camel(entity_type.value)}{'' if device == entity_type.value else _camel(device)}Entity",
                __base__=_EntityBase, __doc__=f"A {entity_type.value.replace('_', ' ')} read as a "
                                             f"{device.replace('_', ' ')} device.",
                type=(_literal(entity_type.value), ...), device=(_literal(device), ...),
                state=(STATE_MODELS[device], ...))
            tagged.append(Annotated[model, Tag(f"{entity_type.value}/{device}")])
    return Annotated[reduce(operator.or_, tagged), Discriminator(_kind)]


# An entity: its `type` and `device` (family) choose the model, and so the model of its `state`.
EntityOut = _entity_models()


class EntityList(BaseModel):
    """Entities matching the filters."""

    entities: list[EntityOut]  # type: ignore[valid-type]  # built from the device families at import
