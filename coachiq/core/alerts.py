"""Alerts by priority: P1 when a core service is unhealthy, P2/P3 for features by safety class.

Alerts always go to the log and, when the database is up, to the alerts table. Other parts (the
notifications feature, the safety model) subscribe to be told when an alert is raised or cleared.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

log = logging.getLogger(__name__)


class Priority(StrEnum):
    """P1: the core is impaired. P2: a critical or safety-related feature. P3: everything else."""

    P1 = "P1"
    P2 = "P2"
    P3 = "P3"


@dataclass(frozen=True, slots=True)
class Alert:
    """An active alert."""

    key: str
    priority: Priority
    source: str
    message: str
    raised_at: float


class AlertStore(Protocol):
    """Where alerts are recorded durably (the persistence service)."""

    async def record_alert(self, key: str, priority: str, source: str, message: str) -> None:
        """Store a raised alert."""

    async def clear_alert(self, key: str) -> None:
        """Mark an alert cleared."""


AlertListener = Callable[[Alert, bool], None]


class AlertManager:
    """Keeps the set of active alerts; raising one that is already active does nothing."""

    def __init__(self, store: AlertStore | None = None) -> None:
        """Alerts are recorded in `store` (None: logged only)."""
        self._active: dict[str, Alert] = {}
        self._store = store
        self._listeners: list[AlertListener] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def subscribe(self, listener: AlertListener) -> Callable[[], None]:
        """Call `listener(alert, raised)` on every change; returns a function that unsubscribes."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    @property
    def active(self) -> list[Alert]:
        """Active alerts, most urgent first."""
        return sorted(self._active.values(), key=lambda a: (a.priority, a.raised_at))

    def has_active(self, priority: Priority) -> bool:
        """True when an alert of this priority is active."""
        return any(a.priority == priority for a in self._active.values())

    def raise_alert(self, key: str, priority: Priority, source: str, message: str) -> None:
        """Raise an alert once; it stays active until cleared."""
        if key in self._active:
            return
        alert = Alert(key, priority, source, message, time.time())
        self._active[key] = alert
        level = logging.ERROR if priority is Priority.P1 else logging.WARNING
        log.log(level, "alert %s raised by %s: %s", priority, source, message)
        self._persist(lambda store: store.record_alert(key, priority.value, source, message))
        self._notify(alert, True)

    def clear(self, key: str) -> None:
        """Clear an active alert; clearing one that is not active does nothing."""
        alert = self._active.pop(key, None)
        if alert is None:
            return
        log.info("alert %s from %s cleared: %s", alert.priority, alert.source, alert.message)
        self._persist(lambda store: store.clear_alert(key))
        self._notify(alert, False)

    def _notify(self, alert: Alert, raised: bool) -> None:
        for listener in list(self._listeners):
            try:
                listener(alert, raised)
            except Exception:
                log.exception("alert listener %r failed", listener)

    def _persist(self, write: Callable[[AlertStore], Awaitable[None]]) -> None:
        store = self._store
        if store is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return

        async def run() -> None:
            try:
                await write(store)
            except Exception as exc:  # the database may be the very thing that is down
                log.warning("could not record alert in the database: %s", exc)

        task = loop.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
