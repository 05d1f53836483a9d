"""The event bus topics of the core services, each with the type of its payloads.

Every publisher and subscriber names a topic by the object here, never by a string, so mypy checks the
payloads on both sides. The module sits in the entities layer, the lowest that can name every core
payload (the entity update); the layers above import it. The decoded-frame topic is defined by the
RV-C service that publishes it, below this layer, and re-exported here.
A feature's own topics are defined in the feature, beside their payload types.
"""

from __future__ import annotations

from typing import Any

from coachiq.core.events import Topic
from coachiq.entities.model import EntityUpdate
from coachiq.rvc.service import FRAME

__all__ = ["ENTITY_UPDATE", "FRAME", "SAFETY_STATE", "VEHICLE_CHANGED"]

ENTITY_UPDATE: Topic[EntityUpdate] = Topic("entity.update")
"""One change of one entity, from the entity manager."""

SAFETY_STATE: Topic[dict[str, Any]] = Topic("safety.state")
"""The state manager's safety snapshot, whenever it differs from the last one published."""

VEHICLE_CHANGED: Topic[str] = Topic("vehicle.changed")
"""The chassis changed what may move (vehicle state, park brake or engine speed); the payload is the
vehicle state (parked, moving, unknown). The motion supervisor checks every motion at once."""
