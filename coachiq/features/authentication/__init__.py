"""The authentication feature: users with roles, server-side sessions, API tokens, phone pairing.

While it is enabled the access gate (coachiq/core/access.py) stands in front of every request and
WebSocket; this feature gives the gate its authenticator once it runs, and takes it back when it
stops, so the gate refuses everything (503) rather than letting anything through unauthenticated.

Passwords: Argon2id (passwords.py), verified on a worker thread, one at a time, so that a burst of
sign-ins neither blocks the event loop nor multiplies the 32 MiB each verify needs.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Connection

from coachiq.core.access import AccessControl, Principal, Role, principal_of
from coachiq.core.service import Health, Status
from coachiq.core.tasks import cancel_all, sleep_aligned
from coachiq.db.manager import DatabaseManager
from coachiq.features.authentication import store
from coachiq.features.authentication.credentials import Credentials
from coachiq.features.authentication.passwords import hash_password, needs_rehash, verify_password
from coachiq.features.authentication.throttle import Backoff
from coachiq.features.base import FeatureContext
from coachiq.persistence.store import PersistenceService
from coachiq.realtime.hub import RealtimeHub

log = logging.getLogger(__name__)
T = TypeVar("T")


class AuthenticationSettings(BaseModel):
    """Settings of the authentication feature (feature_flags.yaml `settings:` or the user file)."""

    model_config = ConfigDict(extra="forbid")

    session_lifetime_s: float = Field(default=30 * 86400, gt=0, le=366 * 86400,
                                      description="A session ends this long after sign-in.")
    pairing_code_lifetime_s: float = Field(default=300, gt=0, le=3600,
                                           description="A pairing code is valid this long, once.")
    refresh_interval_s: float = Field(default=10, gt=0, le=3600,
                                      description="How often changes made by the command line are picked up.")
    secure_cookie: bool | None = Field(default=None, description="Mark the cookie Secure; default: when under TLS.")
    free_failures: int = Field(default=3, ge=1, le=100, description="Failed sign-ins before the back-off starts.")
    max_backoff_s: float = Field(default=300, gt=0, le=86400, description="Longest wait between attempts.")


class SignInRefused(Exception):
    """A sign-in or pairing attempt that failed; `status` and `retry_after` shape the answer."""

    def __init__(self, status: int, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.retry_after = None if retry_after is None else max(1, math.ceil(retry_after))


class AuthenticationFeature:
    """Users, sessions, tokens and pairing; supplies the access gate's authenticator while running."""

    name: ClassVar[str] = "authentication"
    settings_model: ClassVar[type[BaseModel]] = AuthenticationSettings

    def __init__(self) -> None:
        self.settings = AuthenticationSettings()
        self._db: DatabaseManager | None = None
        self._persistence: PersistenceService | None = None
        self._access: AccessControl | None = None
        self._realtime: RealtimeHub | None = None
        self.credentials: Credentials | None = None
        self.users: dict[str, store.UserRecord] = {}
        self.backoff = Backoff()
        # Shared by every address: guessing codes from many addresses at once also slows down.
        self.pairing_backoff = Backoff(free_failures=20, max_wait_s=60)
        self._verify_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._throttled_audited: dict[str, float] = {}

    # -- lifecycle --------------------------------------------------------------------------------

    async def start(self, ctx: FeatureContext) -> None:
        """Load users, sessions and tokens, add the routes, then hand the gate its authenticator."""
        from coachiq.features.authentication.routes import build_router
        from coachiq.web import page_paths

        if ctx.access is None or not ctx.access.required:
            raise RuntimeError("the access gate is not installed; enable authentication before the server starts")
        if not isinstance(ctx.settings, AuthenticationSettings):
            raise TypeError("authentication settings have the wrong type")
        self.settings = ctx.settings
        self.backoff = Backoff(self.settings.free_failures, max_wait_s=self.settings.max_backoff_s)
        self._db = ctx.core.database
        self._persistence = ctx.core.persistence
        self._access = ctx.access
        self._realtime = ctx.core.realtime
        self.credentials = Credentials(page_paths(), self.reload)
        await self.run(lambda c: store.purge_expired(c, datetime.now(UTC)))
        await self.reload()
        ctx.add_router(build_router(self))
        self._tasks.append(asyncio.create_task(self._refresh_loop(), name="authentication-refresh"))
        ctx.access.authenticator = self.credentials
        log.info("authentication on: %d users, %d live sessions, %d tokens", len(self.users),
                 self.credentials.live_sessions, self.credentials.live_tokens)

    async def stop(self) -> None:
        """Take the authenticator back (the gate then refuses), stop the refresh, write last-seen times."""
        if self._access is not None:
            self._access.authenticator = None
        await cancel_all(self._tasks)
        if self._db is not None and self.credentials is not None:
            try:
                await self._write_usage()
            except Exception:
                log.exception("writing session and token use times failed")

    def health(self) -> Health:
        """Healthy while the authenticator is installed and its refresh loop runs."""
        if self.credentials is None or self._access is None or self._access.authenticator is None:
            return Health(Status.STOPPED, "not running")
        if not self._tasks or self._tasks[0].done():
            return Health(Status.UNHEALTHY, "the refresh loop stopped; changes from the command line are not seen")
        return Health(Status.HEALTHY, f"{len(self.users)} users, {self.credentials.live_sessions} live sessions, "
                      f"{self.credentials.live_tokens} tokens")

    # -- database ---------------------------------------------------------------------------------

    async def run(self, work: Callable[[Connection], T]) -> T:
        """Run `work` in one transaction on the database thread."""
        if self._db is None:
            raise RuntimeError("authentication is not running")
        return await self._db.run(work)

    async def reload(self) -> None:
        """Read users, live sessions and live tokens again."""
        snapshot = await self.run(lambda c: store.load_snapshot(c, datetime.now(UTC)))
        self.users = snapshot.users
        if self.credentials is not None:
            self.credentials.replace(snapshot)
        await self._close_ended_sockets()

    async def _close_ended_sockets(self) -> None:
        """WebSockets whose session or token ended (signed out, revoked, expired) are closed."""
        credentials, realtime = self.credentials, self._realtime
        if credentials is None or realtime is None:
            return

        def ended(scope: Mapping[str, Any]) -> bool:
            principal = principal_of(scope)  # type: ignore[arg-type]
            return principal is not None and not credentials.still_valid(principal)

        closed = await realtime.drop_ended(ended, "the session or token has ended; sign in again")
        if closed:
            log.info("closed %d WebSocket(s) of ended sessions or tokens", closed)

    async def _write_usage(self) -> None:
        if self.credentials is None:
            return
        seen, self.credentials.seen_sessions = self.credentials.seen_sessions, {}
        used, self.credentials.used_tokens = self.credentials.used_tokens, {}
        if seen or used:

            def write(connection: Connection) -> None:
                store.touch_sessions(connection, seen)
                store.touch_tokens(connection, used)

            await self.run(write)

    async def _refresh_loop(self) -> None:
        interval = self.settings.refresh_interval_s
        while True:
            await sleep_aligned(interval, phase=min(0.75, interval / 2))
            try:
                await self._write_usage()
                await self.reload()
            except Exception:
                log.exception("refreshing users, sessions and tokens failed; the previous view stays in force")

    async def audit(self, actor: str, action: str, target: str, result: str, reason: str = "") -> None:
        """Write one audit entry (actor as the audit log names people: user:NAME, token:NAME, address)."""
        if self._persistence is not None:
            await self._persistence.audit(actor, action, target, result, reason)

    # -- sessions ---------------------------------------------------------------------------------

    async def open_session(self, user: store.UserRecord) -> tuple[str, Principal]:
        """Create a session for `user`; returns the cookie value (the only copy) and its principal."""
        if self.credentials is None:
            raise RuntimeError("authentication is not running")
        session_id = store.new_session_id()
        id_hash = store.digest(session_id)
        lifetime = self.settings.session_lifetime_s
        now = datetime.now(UTC)
        row_id = await self.run(lambda c: store.create_session(c, id_hash, user.id, now, lifetime))
        principal = Principal("session", user.name, user.role, row_id)
        self.credentials.add_session(id_hash, principal, now.timestamp() + lifetime)
        return session_id, principal

    async def close_session(self, principal: Principal) -> None:
        """Revoke one session at once."""
        await self.run(lambda c: store.revoke_session(c, principal.credential_id))
        if self.credentials is not None:
            self.credentials.forget_session(principal.credential_id)
        await self._close_ended_sockets()

    async def close_user_sessions(self, user_name: str) -> int:
        """Revoke every session of a user at once ("sign out everywhere"); returns how many."""
        user = self.users.get(user_name)
        if user is None:
            raise store.AccessError(f"no user named {user_name!r}")
        count = await self.run(lambda c: store.revoke_user_sessions(c, user.id))
        await self.reload()
        return count

    # -- sign-in ----------------------------------------------------------------------------------

    async def _throttled(self, address: str, wait: float, action: str, target: str) -> None:
        if wait <= 0:
            return
        # One audit entry per address and wait, not one per rejected attempt: a flood writes nothing.
        now = time.monotonic()
        if self._throttled_audited.get(address, 0.0) < now:
            self._throttled_audited[address] = now + wait
            if len(self._throttled_audited) > 1000:
                self._throttled_audited = {k: v for k, v in self._throttled_audited.items() if v > now}
            await self.audit(address, action, target, "throttled", f"retry after {math.ceil(wait)} s")
        raise SignInRefused(429, f"too many failed attempts; try again in {math.ceil(wait)} s", wait)

    async def sign_in(self, name: str, password: str, address: str) -> tuple[str, Principal]:
        """Check a name and password with back-off per address and per user; returns a new session."""
        keys = (f"address:{address}", f"user:{name.lower()}")
        await self._throttled(address, self.backoff.wait(*keys), "auth.sign_in", f"user:{name[:64]}")
        user = self.users.get(name)
        async with self._verify_lock:
            ok = await asyncio.to_thread(verify_password, user.password_hash if user else None, password)
        if not ok or user is None:
            wait = self.backoff.fail(*keys)
            reason = "wrong name or password" + (f"; next attempt in {math.ceil(wait)} s" if wait else "")
            await self.audit(address, "auth.sign_in", f"user:{name[:64]}", "refused", reason)
            raise SignInRefused(401, "wrong name or password")
        self.backoff.succeed(*keys)
        if needs_rehash(user.password_hash):
            new_hash = await asyncio.to_thread(hash_password, password)
            await self.run(lambda c: store.update_password_hash(c, user.id, new_hash))
        cookie, principal = await self.open_session(user)
        await self.audit(f"{principal.actor} ({address})", "auth.sign_in", f"user:{user.name}", "done",
                         f"session {principal.credential_id}")
        return cookie, principal

    async def pair(self, code: str, device: str | None, address: str) -> tuple[str, Principal]:
        """Exchange a live pairing code for a new device user with the code's role, and its session."""
        key = f"address:{address}"
        wait = max(self.backoff.wait(key), self.pairing_backoff.wait("pairing"))
        await self._throttled(address, wait, "auth.pair", "pairing")
        now = datetime.now(UTC)
        found = await self.run(lambda c: store.consume_pairing_code(c, store.digest(code), now)) \
            if code.isdigit() and len(code) == 6 else None
        if found is None:
            self.backoff.fail(key)
            self.pairing_backoff.fail("pairing")
            await self.audit(address, "auth.pair", "pairing", "refused", "unknown, used or expired code")
            raise SignInRefused(401, "that code is unknown, used or expired; ask an admin for a new one")
        self.backoff.succeed(f"address:{address}")
        role, created_by = found
        name = await self._device_name(device)
        await self.run(lambda c: store.add_user(c, name, role, store.UNUSABLE_PASSWORD, now))
        await self.reload()
        cookie, principal = await self.open_session(self.users[name])
        await self.audit(f"{principal.actor} ({address})", "auth.pair", f"user:{name}", "done",
                         f"role {role.label}, code made by {created_by}")
        return cookie, principal

    async def _device_name(self, wanted: str | None) -> str:
        base = store.check_name(wanted, "device name") if wanted else "device"
        name, counter = base, 1
        while name in self.users:
            counter += 1
            name = f"{base}-{counter}"
        return name

    async def create_pairing_code(self, role: Role, actor: Principal) -> tuple[str, datetime]:
        """A new six-digit code for `role`, valid once for the configured time (5 minutes)."""
        code = store.new_pairing_code()
        expires = datetime.fromtimestamp(time.time() + self.settings.pairing_code_lifetime_s, UTC)
        await self.run(lambda c: store.create_pairing_code(c, store.digest(code), role, actor.name, expires))
        await self.audit(actor.actor, "auth.pairing_code", f"role:{role.label}", "done",
                         f"valid until {expires:%H:%M:%S} UTC")
        return code, expires

    async def set_up_first_admin(self, name: str, password: str, address: str) -> tuple[str, Principal]:
        """Create the first admin (only while no user exists) and sign them in."""
        password_hash = await asyncio.to_thread(hash_password, password)
        now = datetime.now(UTC)

        def create(connection: Connection) -> None:
            if store.count_users(connection) > 0:
                raise store.AccessError("a user exists already; sign in instead")
            store.add_user(connection, name, Role.ADMIN, password_hash, now)

        await self.run(create)
        await self.reload()
        await self.audit(f"{address}", "user.add", f"user:{name}", "done", "first admin, set up from loopback")
        cookie, principal = await self.open_session(self.users[name])
        return cookie, principal
