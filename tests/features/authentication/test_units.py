"""The pieces of the authentication feature without a server: back-off, credentials, hashes."""

from __future__ import annotations

import hashlib
from typing import Any

from coachiq.core.access import GATED_KEY, PRINCIPAL_KEY, Principal, Role, refusal
from coachiq.features.authentication.credentials import Credentials, presented
from coachiq.features.authentication.passwords import hash_password, needs_rehash, verify_password
from coachiq.features.authentication.store import Snapshot, TokenRecord
from coachiq.features.authentication.throttle import Backoff


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_backoff_doubles_after_the_free_failures_and_a_success_clears_it() -> None:
    clock = Clock()
    backoff = Backoff(free_failures=3, first_wait_s=1, max_wait_s=8, clock=clock)
    assert [backoff.fail("a") for _ in range(3)] == [0, 0, 0]
    assert [backoff.fail("a") for _ in range(5)] == [1, 2, 4, 8, 8]
    assert backoff.wait("a", "b") == 8
    clock.now += 8
    assert backoff.wait("a") == 0
    backoff.succeed("a")
    assert backoff.fail("a") == 0


def test_backoff_forgets_the_oldest_keys_beyond_its_bound() -> None:
    backoff = Backoff(free_failures=0, max_keys=100)
    for i in range(1000):
        backoff.fail(f"address:{i}")
    assert backoff.wait("address:999") > 0 and backoff.wait("address:0") == 0


def _scope(*headers: tuple[bytes, bytes], path: str = "/api/v2/safety") -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": path, "headers": list(headers)}


def test_presented_credentials_are_read_from_bearer_and_cookie() -> None:
    assert presented(_scope((b"authorization", b"Bearer  abc "))) == (b"abc", None)
    assert presented(_scope((b"authorization", b"Basic abc"))) == (None, None)
    assert presented(_scope((b"cookie", b"a=1; coachiq_session=xyz; b=2"))) == (None, b"xyz")
    assert presented(_scope((b"cookie", b"not_coachiq_session=xyz"))) == (None, None)


async def _no_reload() -> None:
    return None


def test_credentials_resolve_sessions_until_expiry_and_tokens_until_replaced() -> None:
    clock = Clock()
    credentials = Credentials({"/", "/app.js"}, _no_reload, clock)
    principal = Principal("session", "ann", Role.OPERATOR, 7)
    credentials.add_session(hashlib.sha256(b"sid").hexdigest(), principal, clock.now + 10)
    with_cookie = _scope((b"cookie", b"coachiq_session=sid"))
    assert credentials.authenticate(with_cookie) == principal and credentials.still_valid(principal)
    assert credentials.seen_sessions == {7: clock.now}
    clock.now += 10
    assert credentials.authenticate(with_cookie) is None and not credentials.still_valid(principal)
    token = TokenRecord(3, "ha", "read", hashlib.sha256(b"tok").hexdigest(), None, None)  # type: ignore[arg-type]
    credentials.replace(Snapshot({}, {}, {token.token_hash: token}))
    bearer = _scope((b"authorization", b"Bearer tok"), (b"cookie", b"coachiq_session=sid"))
    assert credentials.authenticate(bearer) == Principal("token", "ha", Role.VIEWER, 3)
    # A wrong Bearer is never ignored in favour of a cookie.
    assert credentials.authenticate(_scope((b"authorization", b"Bearer nope"), (b"cookie", b"coachiq_session=sid"))) \
        is None
    credentials.replace(Snapshot({}, {}, {}))
    assert credentials.authenticate(bearer) is None


def test_only_the_page_and_sign_in_routes_are_public() -> None:
    credentials = Credentials({"/", "/app.js"}, _no_reload)
    assert credentials.is_public(_scope(path="/app.js"))
    assert credentials.is_public({"type": "http", "method": "POST", "path": "/api/v2/auth/sign-in", "headers": []})
    assert not credentials.is_public({"type": "http", "method": "POST", "path": "/app.js", "headers": []})
    assert not credentials.is_public(_scope(path="/api/v2/entities"))
    assert not credentials.is_public({"type": "websocket", "path": "/", "headers": []})


def test_refusal_by_role_and_open_without_the_gate() -> None:
    credentials = Credentials(set(), _no_reload)
    viewer = Principal("session", "vic", Role.VIEWER, 1)
    credentials.add_session("h", viewer, float("inf"))
    assert refusal({}, Role.ADMIN, "do anything") is None  # authentication off: no gate, no refusal
    gated: dict[str, Any] = {GATED_KEY: credentials}
    assert refusal(gated, Role.VIEWER, "look")[0] == 401  # type: ignore[index]
    gated[PRINCIPAL_KEY] = viewer
    assert refusal(gated, Role.VIEWER, "look") is None
    status, reason = refusal(gated, Role.OPERATOR, "control devices")  # type: ignore[misc]
    assert status == 403 and "only operator or above may control devices" in reason
    credentials.forget_session(1)
    assert refusal(gated, Role.VIEWER, "look")[0] == 401  # type: ignore[index]


def test_password_hash_is_argon2id_with_the_shipped_parameters() -> None:
    stored = hash_password("a long enough password")
    assert stored.startswith("$argon2id$v=19$m=32768,t=3,p=2$")
    assert verify_password(stored, "a long enough password")
    assert not verify_password(stored, "a long enough passwore")
    assert not verify_password(None, "anything at all")
    assert not verify_password("!paired", "anything at all")
    assert not needs_rehash(stored)
