"""What the entity manager needs from safety, and the record of the motions it started.

The entity manager asks a read-only `SafetyGate` before a command goes out (the state manager is one),
and writes every motion it starts into its `MotionLedger`. The motion supervisor, built after both,
reads the ledger and stops what ran out, what the interlocks no longer allow and what a departed client
controlled; nothing here reaches up to it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from coachiq.entities.model import EntityType

__all__ = ["GatedEntity", "Motion", "MotionLedger", "SafetyGate"]


class GatedEntity(Protocol):
    """What the safety gate needs to know about an entity."""

    @property
    def id(self) -> str:
        """The entity id."""

    @property
    def type(self) -> EntityType:
        """The entity type."""

    @property
    def position_critical(self) -> bool:
        """True for slides, awnings and jacks."""


class SafetyGate(Protocol):
    """Decides, without changing anything, whether a command may go out now."""

    def check(self, entity: GatedEntity, command: str) -> str | None:
        """None when the command may go out, else the reason it is refused."""


@dataclass(slots=True)
class Motion:
    """A motion in progress: who started it and when it must be renewed by."""

    entity_id: str
    command: str
    client_id: str | None
    actor: str
    deadline: float  # time.monotonic()


class MotionLedger:
    """The motions in progress, by entity id; `started` wakes whoever waits on `changed`."""

    def __init__(self) -> None:
        self._motions: dict[str, Motion] = {}
        self.changed = asyncio.Event()

    def started(self, entity_id: str, command: str, duration_s: float, client_id: str | None, actor: str) -> None:
        """Record (or renew) a motion that must be stopped after `duration_s` unless renewed."""
        self._motions[entity_id] = Motion(entity_id, command, client_id, actor, time.monotonic() + duration_s)
        self.changed.set()

    def stopped(self, entity_id: str) -> None:
        """Forget a motion: a stop was sent (or is being sent)."""
        self._motions.pop(entity_id, None)

    def clear(self) -> None:
        """Forget every motion."""
        self._motions.clear()

    def get(self, entity_id: str) -> Motion | None:
        """The motion of `entity_id`, if one is in progress."""
        return self._motions.get(entity_id)

    def of_client(self, client_id: str) -> list[str]:
        """Ids of the entities whose motion `client_id` controls."""
        return [m.entity_id for m in self._motions.values() if m.client_id == client_id]

    def all(self) -> list[Motion]:
        """Every motion in progress."""
        return list(self._motions.values())

    def __contains__(self, entity_id: object) -> bool:
        return entity_id in self._motions

    def __getitem__(self, entity_id: str) -> Motion:
        return self._motions[entity_id]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._motions))

    def __len__(self) -> int:
        return len(self._motions)
