"""The Service protocol every core service implements, and the health it reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable


class Status(StrEnum):
    """Health of one service or feature."""

    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class Health:
    """The outcome of a health check: a status and a short human-readable detail."""

    status: Status
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the service works (healthy or degraded)."""
        return self.status in (Status.HEALTHY, Status.DEGRADED)


class ServiceStartError(Exception):
    """An expected start-up failure: `cause` says what went wrong, `remedy` what the user should do."""

    def __init__(self, cause: str, remedy: str = "") -> None:
        super().__init__(cause if not remedy else f"{cause} — {remedy}")
        self.cause = cause
        self.remedy = remedy


@runtime_checkable
class Service(Protocol):
    """A core service: started in order, stopped in reverse, asked for its health on a timer."""

    name: str

    async def start(self) -> None:
        """Start the service; raise ServiceStartError for an expected failure."""

    async def stop(self) -> None:
        """Stop the service and release what it holds."""

    async def health(self) -> Health:
        """Check the real thing (a query, a bus state) and report."""
