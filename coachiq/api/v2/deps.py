"""Typed access from a request to the server that serves it (the app holds the one runtime).

The routes sit below the runtime that owns them, so they see it through the two protocols here, which
name only what a route may use; coachiq/runtime.py satisfies them (mypy checks it where the app is built).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from fastapi.responses import JSONResponse
from starlette.requests import HTTPConnection

from coachiq.api.problems import problem
from coachiq.core.access import AccessControl, actor_of_scope
from coachiq.core.alerts import AlertManager
from coachiq.core.metrics import Metrics
from coachiq.core.services import ServiceGroup
from coachiq.settings import Settings

if TYPE_CHECKING:
    from coachiq.api.v2.service import ApiV2Service
    from coachiq.can.interface import CanInterfaceService
    from coachiq.entities.manager import EntityManager
    from coachiq.persistence.store import PersistenceService
    from coachiq.realtime.hub import RealtimeHub
    from coachiq.rvc.service import RvcProtocolService
    from coachiq.state.manager import StateManager
    from coachiq.state.supervisor import MotionSupervisor


class CoreView(Protocol):
    """The core services, as the routes use them."""

    @property
    def persistence(self) -> PersistenceService:
        """Settings, audit log and history."""

    @property
    def can(self) -> CanInterfaceService:
        """The CAN interfaces."""

    @property
    def rvc(self) -> RvcProtocolService:
        """The RV-C protocol service."""

    @property
    def entities(self) -> EntityManager:
        """The entities and their commands."""

    @property
    def state(self) -> StateManager:
        """The vehicle's safety state."""

    @property
    def motion(self) -> MotionSupervisor:
        """The motion supervisor (emergency stop)."""

    @property
    def realtime(self) -> RealtimeHub:
        """The WebSocket hub."""

    @property
    def api_v2(self) -> ApiV2Service:
        """The v2 API's own service (recent frames, list cache)."""

    @property
    def group(self) -> ServiceGroup:
        """The started services and their last health."""

    @property
    def ready(self) -> bool:
        """True when every core service is up and healthy."""


class ServerView(Protocol):
    """The running server, as the routes use it."""

    @property
    def core(self) -> CoreView:
        """The core services."""

    @property
    def settings(self) -> Settings:
        """The server's settings."""

    @property
    def access(self) -> AccessControl:
        """The access gate."""

    @property
    def alerts(self) -> AlertManager:
        """The active alerts."""

    @property
    def metrics(self) -> Metrics:
        """The Prometheus metrics."""

    @property
    def started_at(self) -> float:
        """When the server started (Unix time)."""

    async def health_report(self) -> dict[str, Any]:
        """The unified health document."""


def runtime_of(connection: HTTPConnection) -> ServerView:
    """The server serving this request or WebSocket."""
    runtime: ServerView = connection.app.state.runtime
    return runtime


def actor_of(connection: HTTPConnection) -> str:
    """Who the audit log names for a request: the signed-in user or token (with authentication on) and
    the client's address."""
    client = connection.client
    return actor_of_scope(connection.scope, f"http:{client.host}" if client is not None else "http")


_TITLES = {403: "Forbidden", 404: "Not Found", 409: "Conflict", 422: "Unprocessable Content",
           429: "Too Many Requests", 503: "Service Unavailable", 504: "Gateway Timeout"}


def problem_response(status: int, detail: str, **extra: Any) -> JSONResponse:
    """A problem+json answer with extra members (`reason`, `command_id`, `field`); None members left out."""
    return problem(status, _TITLES.get(status, "Error"), detail, **{k: v for k, v in extra.items() if v is not None})
