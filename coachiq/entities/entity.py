"""One entity of the coach: its configuration and the live state the devices report."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from coachiq.entities.mapping import EntityConfig
from coachiq.entities.model import EntityState, EntityType
from coachiq.entities.states import blank

__all__ = ["Entity", "Waiter"]


@dataclass(slots=True)
class Waiter:
    """A command waiting for the device's status echo to show `expect`, or for the device to refuse it.

    `refusal` is set (and the future done) when the device answers with a negative acknowledgment;
    `more_time` when it answers that it needs longer than usual.
    """

    expect: Mapping[str, Any]
    future: asyncio.Future[None]
    sent_at: float
    refusal: str | None = None
    more_time: bool = False



class Entity:
    """One device of the coach as the owner sees it: configuration plus live state."""

    __slots__ = ("config", "followup", "generation", "heard_keys", "json", "last_heard", "last_sample", "ring",
                 "state", "waiters")

    def __init__(self, config: EntityConfig, ring_size: int) -> None:
        """State starts empty and unavailable until the device is heard (or restored, still unavailable)."""
        self.config = config
        self.state = EntityState(blank(config.device))
        self.last_heard = 0.0
        self.heard_keys: set[tuple[int, int | None]] = set()  # (CAN id, instance byte) seen from the device
        self.last_sample = 0.0
        self.ring: deque[tuple[float, dict[str, Any]]] = deque(maxlen=ring_size)
        self.waiters: list[Waiter] = []
        # Each command for the device takes the next generation; an older command still sending stops before
        # its next frame, so raced commands never interleave an "opposite off" with a stale "on".
        self.generation = 0
        self.followup: asyncio.Task[None] | None = None
        self.json: bytes | None = None  # to_json() serialised, until the state changes

    @property
    def id(self) -> str:
        """The entity id, "<type>.<name>"."""
        return self.config.id

    @property
    def name(self) -> str:
        """Human-readable name."""
        return self.config.name

    @property
    def type(self) -> EntityType:
        """The entity type."""
        return self.config.type

    @property
    def area(self) -> str:
        """The area of the coach it is in."""
        return self.config.area

    @property
    def capabilities(self) -> frozenset[str]:
        """The commands it accepts."""
        return self.config.capabilities

    @property
    def position_critical(self) -> bool:
        """True for slides, awnings, jacks and shades the mapping marks (windshield, driver's side)."""
        return self.config.position_critical

    @property
    def moving(self) -> bool:
        """True when the device reports motion."""
        return self.state.values.get("motion") in ("extending", "retracting")

    def to_json(self) -> dict[str, Any]:
        """The API shape of the entity."""
        return {"id": self.config.id, "name": self.config.name, "type": self.config.type.value,
                "device": self.config.device, "position_critical": self.config.position_critical,
                "area": self.config.area, "capabilities": sorted(self.config.capabilities),
                "state": dict(self.state.values), "available": self.state.available,
                "updated_at": self.state.updated_at}

    def json_bytes(self) -> bytes:
        """to_json() as compact JSON, serialised once per change of state."""
        if self.json is None:
            # default=str: decoded values are JSON types; anything else (an enum, bytes) is shown, never fatal.
            self.json = json.dumps(self.to_json(), separators=(",", ":"), default=str).encode()
        return self.json
