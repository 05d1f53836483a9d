"""Typed access from a request to the runtime's core services (the app holds the one runtime)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi.responses import JSONResponse
from starlette.requests import HTTPConnection

from coachiq.api.problems import problem
from coachiq.core.access import actor_of_scope

if TYPE_CHECKING:  # the runtime imports the core services, which import this package's service
    from coachiq.runtime import Runtime


def runtime_of(connection: HTTPConnection) -> Runtime:
    """The runtime serving this request or WebSocket."""
    runtime: Runtime = connection.app.state.runtime
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
