"""A small in-process publish/subscribe bus between core services and features.

Handlers run synchronously in the publisher's task and must be quick. A handler that raises is
logged and unsubscribed from nothing: the error never reaches the publisher (the CAN loop).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[Any], None]


class EventBus:
    """Topics are plain strings such as "entity.update" or "alert"."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = {}
        self.handler_errors = 0

    def subscribe(self, topic: str, handler: Handler) -> Callable[[], None]:
        """Call `handler(payload)` for every event on `topic`; returns a function that unsubscribes."""
        self._handlers.setdefault(topic, []).append(handler)

        def unsubscribe() -> None:
            handlers = self._handlers.get(topic, [])
            if handler in handlers:
                handlers.remove(handler)

        return unsubscribe

    def has_subscribers(self, topic: str) -> bool:
        """True when someone listens on `topic` (lets publishers skip building payloads)."""
        return bool(self._handlers.get(topic))

    def publish(self, topic: str, payload: Any) -> None:
        """Deliver `payload` to every handler of `topic`, isolating their failures."""
        for handler in self._handlers.get(topic, ()):
            try:
                handler(payload)
            except Exception:
                self.handler_errors += 1
                log.exception("event handler %r for %s failed", handler, topic)
