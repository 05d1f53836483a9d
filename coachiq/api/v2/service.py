"""The v2 API core service: what the v2 routers need that outlives a request.

It keeps a bounded ring of recently decoded frames for GET /api/v2/can/frames (the frames themselves,
formatted only when asked, so the receive path only appends), the start time for uptime, and the gzip
copy of the latest entity lists: the entity manager keeps each list serialised until an entity changes
(EntityManager.list_json), and compressing it once per change instead of once per request is most of
what a client asking for gzip would otherwise cost.
"""

from __future__ import annotations

import gzip
import time
from collections import deque
from collections.abc import Callable

from coachiq.core.events import EventBus
from coachiq.core.service import Health, Status
from coachiq.entities.topics import FRAME
from coachiq.rvc.receive import RvcFrame

__all__ = ["GZIP_LEVEL", "GZIP_MINIMUM_SIZE", "RECENT_FRAMES", "ApiV2Service"]

RECENT_FRAMES = 500
_GZIPPED_LISTS = 32  # distinct filter combinations kept
# Responses of this size or more are gzipped for clients that accept it, at this level (coachiq/app.py).
GZIP_MINIMUM_SIZE = 1024
GZIP_LEVEL = 6


class ApiV2Service:
    """State of the v2 API between requests."""

    name = "api_v2"

    def __init__(self, events: EventBus, recent_frames: int = RECENT_FRAMES) -> None:
        """`recent_frames` bounds the ring of frames kept for diagnostics."""
        self.events = events
        self.recent: deque[RvcFrame] = deque(maxlen=recent_frames)
        self.started_at: float | None = None
        self._gzipped: dict[tuple[str | None, ...], tuple[bytes, bytes]] = {}
        self._unsubscribe: Callable[[], None] | None = None

    async def start(self) -> None:
        """Start keeping recent frames."""
        self.recent.clear()
        self._unsubscribe = self.events.subscribe(FRAME, self.recent.append)
        self.started_at = time.time()

    async def stop(self) -> None:
        """Stop keeping frames."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._gzipped.clear()
        self.started_at = None

    def gzipped_list(self, key: tuple[str | None, ...], body: bytes) -> bytes:
        """`body` (the entity list for the filters `key`) gzipped, compressed again only when it changed."""
        cached = self._gzipped.get(key)
        if cached is not None and cached[0] is body:
            return cached[1]
        compressed = gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
        if len(self._gzipped) >= _GZIPPED_LISTS and key not in self._gzipped:
            self._gzipped.clear()
        self._gzipped[key] = (body, compressed)
        return compressed

    async def health(self) -> Health:
        """Healthy while it receives the frame stream it serves."""
        if self._unsubscribe is None or not self.events.has_subscribers(FRAME):
            return Health(Status.STOPPED, "not listening to frames")
        return Health(Status.HEALTHY, f"{len(self.recent)} recent frames kept", {"recent_frames": len(self.recent)})
