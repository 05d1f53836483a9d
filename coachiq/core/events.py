"""A small in-process publish/subscribe bus between core services and features.

Handlers run synchronously in the publisher's task and must be quick. A handler that raises is
logged and stays subscribed: the error never reaches the publisher (the CAN loop).

A topic is a `Topic[P]`: its name and the type `P` of its payloads, so mypy checks that a publisher
sends and a handler takes the topic's payload. The core services' topics are in coachiq/entities/topics.py
(the decoded-frame topic is defined by the RV-C service that publishes it and re-exported there); a
feature defines its own beside its payload type.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

P = TypeVar("P")


class Topic(Generic[P]):
    """An event bus topic: its name, and (for the type checker) the type of its payloads."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Topic({self.name!r})"


class EventBus:
    """Delivers each payload published on a topic to that topic's handlers."""

    def __init__(self) -> None:
        self._handlers: dict[str, list[Callable[[Any], None]]] = {}
        self.handler_errors = 0

    def subscribe(self, topic: Topic[P], handler: Callable[[P], None]) -> Callable[[], None]:
        """Call `handler(payload)` for every event on `topic`; returns a function that unsubscribes."""
        handlers = self._handlers.setdefault(topic.name, [])
        handlers.append(handler)

        def unsubscribe() -> None:
            if handler in handlers:
                handlers.remove(handler)

        return unsubscribe

    def has_subscribers(self, topic: Topic[Any]) -> bool:
        """True when someone listens on `topic` (lets publishers skip building payloads)."""
        return bool(self._handlers.get(topic.name))

    def publish(self, topic: Topic[P], payload: P) -> None:
        """Deliver `payload` to every handler of `topic`, isolating their failures."""
        for handler in self._handlers.get(topic.name, ()):
            try:
                handler(payload)
            except Exception:
                self.handler_errors += 1
                log.exception("event handler %r for %s failed", handler, topic.name)
