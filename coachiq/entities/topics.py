"""The event bus topics of the core services, each with the type of its payloads.

Every publisher and subscriber names a topic by the object here, never by a string, so mypy checks the
payloads on both sides. The module sits in the entities layer, the lowest that can name every core
payload (the decoded frame from the CAN layer, the entity update); the layers above import it.
A feature's own topics are defined in the feature, beside their payload types.
"""

from __future__ import annotations

from typing import Any

from coachiq.can.pipeline import RvcFrame
from coachiq.core.events import Topic
from coachiq.entities.model import EntityUpdate

__all__ = ["ENTITY_UPDATE", "FRAME", "SAFETY_STATE", "VEHICLE_CHANGED"]

FRAME: Topic[RvcFrame] = Topic("rvc.frame")
"""Every decoded frame, from the RV-C service (our own transmissions included, marked `own`)."""

ENTITY_UPDATE: Topic[EntityUpdate] = Topic("entity.update")
"""One change of one entity, from the entity manager."""

SAFETY_STATE: Topic[dict[str, Any]] = Topic("safety.state")
"""The state manager's safety snapshot, whenever it differs from the last one published."""

VEHICLE_CHANGED: Topic[str] = Topic("vehicle.changed")
"""The chassis changed what may move (vehicle state, park brake or engine speed); the payload is the
vehicle state (parked, moving, unknown). The motion supervisor checks every motion at once."""
