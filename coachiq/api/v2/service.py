"""The v2 API core service: what the v2 routers need that outlives a request.

It keeps a bounded ring of recently decoded frames for GET /api/v2/can/frames (the frames themselves,
formatted only when asked, so the receive path only appends), the start time for uptime, and a cache of
serialised entity lists: five clients polling GET /api/v2/entities would otherwise serialise every
entity on every request although the state changes far less often. Every entity change arrives on the
event bus as "entity.update", which bumps `generation` and so invalidates the cache.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from coachiq.core.events import EventBus
from coachiq.core.service import Health, Status
from coachiq.entities.model import EntityUpdate
from coachiq.entities.topics import ENTITY_UPDATE, FRAME
from coachiq.rvc.receive import RvcFrame

__all__ = ["RECENT_FRAMES", "ApiV2Service"]

RECENT_FRAMES = 500
_CACHED_LISTS = 32  # distinct filter combinations kept


class ApiV2Service:
    """State of the v2 API between requests."""

    name = "api_v2"

    def __init__(self, events: EventBus, recent_frames: int = RECENT_FRAMES) -> None:
        """`recent_frames` bounds the ring of frames kept for diagnostics."""
        self.events = events
        self.recent: deque[RvcFrame] = deque(maxlen=recent_frames)
        self.started_at: float | None = None
        self.generation = 0
        self._lists: dict[tuple[str | None, ...], tuple[int, bytes]] = {}
        self._unsubscribe: Callable[[], None] | None = None
        self._unsubscribe_updates: Callable[[], None] | None = None

    async def start(self) -> None:
        """Start keeping recent frames."""
        self.recent.clear()
        self._unsubscribe = self.events.subscribe(FRAME, self.recent.append)
        self._unsubscribe_updates = self.events.subscribe(ENTITY_UPDATE, self._on_update)
        self.started_at = time.time()

    async def stop(self) -> None:
        """Stop keeping frames."""
        for unsubscribe in (self._unsubscribe, self._unsubscribe_updates):
            if unsubscribe is not None:
                unsubscribe()
        self._unsubscribe = self._unsubscribe_updates = None
        self._lists.clear()
        self.started_at = None

    def _on_update(self, _update: EntityUpdate) -> None:
        self.generation += 1

    def cached_list(self, key: tuple[str | None, ...], build: Callable[[], bytes]) -> bytes:
        """The serialised entity list for `key` (the filters), rebuilt only after an entity changed."""
        cached = self._lists.get(key)
        if cached is not None and cached[0] == self.generation:
            return cached[1]
        generation = self.generation
        body = build()
        if len(self._lists) >= _CACHED_LISTS and key not in self._lists:
            self._lists.clear()
        self._lists[key] = (generation, body)
        return body

    async def health(self) -> Health:
        """Healthy while it receives the frame stream it serves."""
        if self._unsubscribe is None or not self.events.has_subscribers(FRAME):
            return Health(Status.STOPPED, "not listening to frames")
        return Health(Status.HEALTHY, f"{len(self.recent)} recent frames kept", {"recent_frames": len(self.recent)})
