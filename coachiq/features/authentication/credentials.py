"""The in-memory view of live sessions and tokens that the access gate consults on every request.

Authenticating a request is a header scan, one SHA-256 of the presented secret and one dict look-up:
no database, no await. Last-seen and last-used times are gathered here and written by the feature's
refresh loop. Changes made through the API update this view at once; changes made by the command line
while the server runs arrive with the next refresh, or at once for a credential the server has not
seen yet (an unknown token triggers a reload, at most one per second).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from coachiq.core.access import SESSION_COOKIE, SESSION_COOKIE_BYTES, Principal, Scope
from coachiq.features.authentication.store import Snapshot

log = logging.getLogger(__name__)
__all__ = ["SESSION_COOKIE", "Credentials", "presented"]

_COOKIE_PREFIX = SESSION_COOKIE_BYTES
RELOAD_AT_MOST_EVERY_S = 1.0

# What loads before sign-in: the sign-in routes (the page's own files are added by the feature).
PUBLIC_ROUTES = frozenset({
    ("GET", "/api/v2/access"),
    ("GET", "/api/v2/auth/session"),
    ("POST", "/api/v2/auth/sign-in"),
    ("POST", "/api/v2/auth/pair"),
    ("POST", "/api/v2/auth/setup"),
})


@dataclass(frozen=True, slots=True)
class _Live:
    principal: Principal
    expires_at: float  # POSIX seconds; inf for tokens


def _digest(secret: bytes) -> str:
    return hashlib.sha256(secret).hexdigest()


def presented(scope: Scope) -> tuple[bytes | None, bytes | None]:
    """The Bearer token and the session cookie of a request, as sent (either may be None)."""
    bearer = cookie = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            if value[:7].lower() == b"bearer ":
                bearer = value[7:].strip()
        elif name == b"cookie":
            for part in value.split(b";"):
                part = part.strip()
                if part.startswith(_COOKIE_PREFIX):
                    cookie = part[len(_COOKIE_PREFIX):]
    return bearer, cookie


class Credentials:
    """Implements the access gate's Authenticator from a snapshot of the database."""

    def __init__(self, page_paths: Iterable[str], reload: Callable[[], Awaitable[None]],
                 clock: Callable[[], float] = time.time) -> None:
        self._page_paths = frozenset(page_paths)
        self._reload = reload
        self._clock = clock
        self._sessions: dict[str, _Live] = {}
        self._tokens: dict[str, _Live] = {}
        self._live_session_ids: dict[int, float] = {}
        self._live_token_ids: set[int] = set()
        self.seen_sessions: dict[int, float] = {}
        self.used_tokens: dict[int, float] = {}
        self._last_reload_started = 0.0
        self._pending: asyncio.Future[None] | None = None

    # -- kept up to date by the feature ------------------------------------------------------------

    def replace(self, snapshot: Snapshot) -> None:
        """Adopt a fresh snapshot of live sessions and tokens."""
        self._sessions = {h: _Live(Principal("session", s.user_name, s.role, s.id), s.expires_at)
                          for h, s in snapshot.sessions.items()}
        self._tokens = {h: _Live(Principal("token", t.name, t.role, t.id), float("inf"))
                        for h, t in snapshot.tokens.items()}
        self._live_session_ids = {live.principal.credential_id: live.expires_at for live in self._sessions.values()}
        self._live_token_ids = {live.principal.credential_id for live in self._tokens.values()}

    def add_session(self, id_hash: str, principal: Principal, expires_at: float) -> None:
        """Make a session created by this server usable at once."""
        self._sessions[id_hash] = _Live(principal, expires_at)
        self._live_session_ids[principal.credential_id] = expires_at

    def forget_session(self, session_id: int) -> None:
        """Stop honouring a revoked session at once."""
        self._sessions = {h: live for h, live in self._sessions.items() if live.principal.credential_id != session_id}
        self._live_session_ids.pop(session_id, None)

    @property
    def live_sessions(self) -> int:
        """How many sessions are live now."""
        now = self._clock()
        return sum(1 for expires in self._live_session_ids.values() if expires > now)

    @property
    def live_tokens(self) -> int:
        """How many tokens are live."""
        return len(self._live_token_ids)

    # -- the Authenticator protocol -----------------------------------------------------------------

    def authenticate(self, scope: Scope) -> Principal | None:
        """The principal of the request's Bearer token or session cookie; a bad Bearer is never ignored."""
        bearer, cookie = presented(scope)
        if bearer is not None:
            live = self._tokens.get(_digest(bearer))
            if live is None:
                return None
            self.used_tokens[live.principal.credential_id] = self._clock()
            return live.principal
        if cookie is not None:
            live = self._sessions.get(_digest(cookie))
            if live is None:
                return None
            now = self._clock()
            if live.expires_at <= now:
                return None
            self.seen_sessions[live.principal.credential_id] = now
            return live.principal
        return None

    async def retry(self, scope: Scope) -> Principal | None:
        """After a miss with a Bearer token: wait for a reload that starts after this request arrived
        (at most one per second, shared by every waiting request), then authenticate again.

        A token created with `coachiq token create` while the server runs thus works on its first
        use, and a flood of wrong tokens costs the database one read per second.
        """
        bearer, _cookie = presented(scope)
        if bearer is None:
            return None
        arrived = time.monotonic()
        while self._last_reload_started < arrived:
            if self._pending is None or self._pending.done():
                self._pending = asyncio.ensure_future(self._reload_soon())
            await asyncio.shield(self._pending)
        return self.authenticate(scope)

    async def _reload_soon(self) -> None:
        delay = self._last_reload_started + RELOAD_AT_MOST_EVERY_S - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        self._last_reload_started = time.monotonic()
        try:
            await self._reload()
        except Exception:
            log.exception("reloading sessions and tokens failed")

    def is_public(self, scope: Scope) -> bool:
        """The page's own files (GET) and the sign-in routes load without credentials."""
        if scope["type"] != "http":
            return False
        method = scope["method"]
        path = scope["path"]
        if method in ("GET", "HEAD") and path in self._page_paths:
            return True
        return (method, path) in PUBLIC_ROUTES

    def still_valid(self, principal: Principal) -> bool:
        """True while the principal's session or token is live (a WebSocket outlives its handshake)."""
        if principal.kind == "token":
            return principal.credential_id in self._live_token_ids
        expires = self._live_session_ids.get(principal.credential_id)
        return expires is not None and expires > self._clock()
