"""What waits to be published: entity states (coalesced, bounded) and command results (never dropped).

The event bus handler runs in the CAN receive path, so marking a state as changed is dict work only.
States are not queued as messages: the outbox remembers which entities changed, and the sender reads
their state when it publishes, so ten changes of a dimmer between two sends cost one message. The
first change of an entity goes out at once; later ones within `COALESCE_S` of its last send wait for
the end of that window. While the broker is gone at most `max_states` entities wait; past that the
oldest waiting change is dropped (on reconnect every state is published again anyway). Command results
are kept until they are sent: each answers a command someone is waiting on.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque

# An entity that changes all the time is published at most 50 times a second; an isolated change at once.
COALESCE_S = 0.02


class Outbox:
    """Pending state changes by entity id and pending command results, with one wake-up event."""

    def __init__(self, max_states: int) -> None:
        """Hold at most `max_states` changed entities."""
        self.max_states = max_states
        self.states: dict[str, float] = {}  # entity id -> timestamp of its newest change; oldest first
        self.results: deque[tuple[str, bytes]] = deque()
        self.last_sent: dict[str, float] = {}  # entity id -> time.monotonic() of its last publication
        self.dropped_states = 0
        self.wake = asyncio.Event()

    def state_changed(self, entity_id: str, timestamp: float) -> None:
        """An entity changed (bus path: dict work only)."""
        states = self.states
        if entity_id in states:
            states[entity_id] = timestamp  # already waiting: the sender has it in hand or on a timer
            return
        if len(states) >= self.max_states:
            del states[next(iter(states))]
            self.dropped_states += 1
        states[entity_id] = timestamp
        self.wake.set()

    def add_result(self, topic: str, payload: bytes) -> None:
        """Queue a command result; it is kept until published."""
        self.results.append((topic, payload))
        self.wake.set()

    def take_due(self, now: float | None = None) -> tuple[list[tuple[str, float]], float | None]:
        """(entity id, newest change) of the states to publish now, and when the next held one falls due."""
        now = time.monotonic() if now is None else now
        due: list[tuple[str, float]] = []
        next_due: float | None = None
        last_sent = self.last_sent
        for entity_id in list(self.states):
            ready_at = last_sent.get(entity_id, 0.0) + COALESCE_S
            if ready_at <= now:
                due.append((entity_id, self.states.pop(entity_id)))
                last_sent[entity_id] = now
            elif next_due is None or ready_at < next_due:
                next_due = ready_at
        return due, next_due
