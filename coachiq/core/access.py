"""Who is asking: roles, the principal of a request, and the gate every request passes when
authentication is on.

The gate is a pure ASGI middleware, installed only when the `authentication` feature is enabled. It
resolves the session cookie or the Bearer token of each HTTP request and WebSocket once, through the
feature's in-memory `Authenticator` (no database, no await), and stores the result in the ASGI scope.
Everything after it (routes, the realtime hub, the Origin check) reads `principal_of(scope)`; nothing
else parses credentials. Until the feature runs, and after it fails, the gate refuses (fails closed).

This module imports nothing above `core/`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Literal, Protocol

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PRINCIPAL_KEY = "coachiq.principal"
# The session cookie's name, as the gate and the Origin check look for it.
SESSION_COOKIE = "coachiq_session"
SESSION_COOKIE_BYTES = SESSION_COOKIE.encode() + b"="
# The authenticator, set on every scope that passed the gate: a control check that finds it and no
# principal (or a principal no longer valid) refuses.
GATED_KEY = "coachiq.gated"

# Liveness and readiness probes stay open: a supervisor must reach them without credentials.
OPEN_PATHS = frozenset({"/healthz", "/readyz"})
# Operational detail: a token of any scope, or an admin's session.
MONITORING_PATHS = frozenset({"/health", "/metrics"})


class Role(IntEnum):
    """What a signed-in person may do; each role includes the ones below it."""

    VIEWER = 1  # sees everything, controls nothing (may press the emergency stop)
    OPERATOR = 2  # controls devices, motion included, under the interlocks
    ADMIN = 3  # also users, tokens, features and the raw CAN tools

    @property
    def label(self) -> str:
        """The role's name as the API and the command line write it."""
        return self.name.lower()


# API token scopes and the role each stands for.
SCOPE_ROLES: dict[str, Role] = {"read": Role.VIEWER, "control": Role.OPERATOR, "admin": Role.ADMIN}


@dataclass(frozen=True, slots=True)
class Principal:
    """The signed-in user (by session) or the API token behind a request."""

    kind: Literal["session", "token"]
    name: str  # the user's name, or the token's name
    role: Role
    credential_id: int  # session or token row id

    @property
    def actor(self) -> str:
        """How the audit log names this principal."""
        return f"{'user' if self.kind == 'session' else 'token'}:{self.name}"


class Authenticator(Protocol):
    """Resolves credentials from memory; implemented by the authentication feature."""

    def authenticate(self, scope: Scope) -> Principal | None:
        """The principal of this request's session cookie or Bearer token, or None."""

    async def retry(self, scope: Scope) -> Principal | None:
        """A second chance after a miss (credentials created elsewhere since the last reload), or None."""

    def is_public(self, scope: Scope) -> bool:
        """True for what loads before sign-in: the page's static shell and the sign-in routes."""

    def still_valid(self, principal: Principal) -> bool:
        """True while the principal's session or token is live (not revoked, not expired)."""


class AccessControl:
    """Whether authentication is required, and the running feature's authenticator (None until it runs)."""

    def __init__(self, required: bool) -> None:
        self.required = required
        self.authenticator: Authenticator | None = None


def principal_of(scope: Scope) -> Principal | None:
    """The principal the gate found for this request; None when authentication is off or it is public."""
    principal: Principal | None = scope.get(PRINCIPAL_KEY)
    return principal


def refusal(scope: Scope, needed: Role, action: str) -> tuple[int, str] | None:
    """None when the request may `action` (needs role `needed`), else (HTTP status, reason).

    With authentication off the gate is not installed and everything is allowed (the server then
    listens on loopback only).
    """
    authenticator: Authenticator | None = scope.get(GATED_KEY)
    if authenticator is None:
        return None
    principal = principal_of(scope)
    if principal is None:
        return 401, f"sign in to {action}"
    if not authenticator.still_valid(principal):
        return 401, f"the {principal.kind} has ended (signed out, revoked or expired); sign in again to {action}"
    if principal.role < needed:
        who = principal.name if principal.kind == "session" else f"the token {principal.name}"
        return 403, (f"{who} has the role {principal.role.label}; only {needed.label} or above may {action} "
                     "— ask an admin")
    return None


def _presents(scope: Scope) -> tuple[bool, bool]:
    """Whether the request presents a Bearer token, and whether it carries a session cookie."""
    bearer = cookie = False
    for name, value in scope["headers"]:
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            bearer = True
        elif name == b"cookie" and SESSION_COOKIE_BYTES in value:
            cookie = True
    return bearer, cookie


def missing_origin_policy(access: AccessControl) -> Callable[[Scope], bool]:
    """The Origin check's answer for a WebSocket or state-changing request that sends no `Origin`.

    Browsers always send `Origin` on those, so a request without it comes from a program. With
    authentication off such programs are let through (the server listens on loopback only). With it
    on, the Origin check guards against requests riding on a browser's session cookie: a request
    without `Origin` that carries the cookie is refused, one with a Bearer token goes on (the gate
    checks the token), and one with neither goes on to the gate, which refuses it (401) unless it is a
    sign-in route.
    """

    def allowed(scope: Scope) -> bool:
        if not access.required:
            return True
        bearer, cookie = _presents(scope)
        return bearer or not cookie

    return allowed


def actor_of_scope(scope: Scope, fallback: str) -> str:
    """How the audit log names whoever sent this request: principal and address, or `fallback`."""
    principal = principal_of(scope)
    return f"{principal.actor} ({fallback})" if principal is not None else fallback


_JSON = [(b"content-type", b"application/problem+json"), (b"cache-control", b"no-store")]


async def _deny_http(send: Send, status: int, detail: str, extra: list[tuple[bytes, bytes]],
                     prefix: str = "http") -> None:
    title = {401: "Unauthorized", 403: "Forbidden", 503: "Service Unavailable"}[status]
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}).encode()
    headers = [*_JSON, (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": f"{prefix}.response.start", "status": status, "headers": headers})
    await send({"type": f"{prefix}.response.body", "body": body})


async def _deny_websocket(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
    await receive()  # websocket.connect
    if "websocket.http.response" in scope.get("extensions", {}):
        await _deny_http(send, status, detail, [], prefix="websocket.http")
    else:  # without the extension the server answers the handshake with 403
        await send({"type": "websocket.close", "code": 1008, "reason": detail[:120]})


class AccessGate:
    """ASGI middleware: every request and WebSocket needs a principal, except the open and public paths."""

    def __init__(self, app: ASGIApp, access: AccessControl) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Resolve the principal, then pass the request on or refuse it."""
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        if path in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        authenticator = self.access.authenticator
        if authenticator is None:
            detail = "authentication is enabled but not running; see /healthz and the server log"
            await self._deny(scope, receive, send, 503, detail)
            return
        scope[GATED_KEY] = authenticator
        principal = authenticator.authenticate(scope)
        if principal is None and not authenticator.is_public(scope):
            principal = await authenticator.retry(scope)
        if principal is not None:
            scope[PRINCIPAL_KEY] = principal
            if path in MONITORING_PATHS and principal.kind == "session" and principal.role < Role.ADMIN:
                await self._deny(scope, receive, send, 403, f"{path} needs an API token or an admin's session")
                return
            await self.app(scope, receive, send)
            return
        if authenticator.is_public(scope):
            await self.app(scope, receive, send)
            return
        await self._deny(scope, receive, send, 401, "sign in, or send an API token as Authorization: Bearer")

    @staticmethod
    async def _deny(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
        if scope["type"] == "websocket":
            await _deny_websocket(scope, receive, send, status, detail)
        else:
            extra = [(b"www-authenticate", b'Bearer realm="coachiq"')] if status == 401 else []
            await _deny_http(send, status, detail, extra)
