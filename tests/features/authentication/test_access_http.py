"""Authentication on, over real HTTP and WebSocket: who may see and do what."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.features.authentication.conftest import AuthServer

COMMAND = ("/api/v2/entities/light.galley_ceiling/commands", {"command": "turn_on"})


def test_probes_stay_open_and_everything_else_needs_credentials(auth_server: AuthServer) -> None:
    with auth_server.client() as anonymous:
        assert anonymous.get("/healthz").status_code == 200
        assert anonymous.get("/readyz").status_code == 200
        for path in ("/api/v2/entities", "/api/v2/entities/light.galley_ceiling", "/api/v2/safety",
                     "/api/v2/system", "/api/v2/can/statistics", "/health", "/metrics", "/openapi.json", "/docs",
                     "/api/v2/auth/users"):
            response = anonymous.get(path)
            assert response.status_code == 401, path
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.headers["content-type"] == "application/problem+json"
        refused = anonymous.post(*COMMAND[:1], json=COMMAND[1])
        assert refused.status_code == 401
        assert anonymous.post("/api/v2/safety/emergency-stop").status_code == 401
        # The page's shell and the sign-in state load before sign-in.
        assert anonymous.get("/").status_code == 200
        assert anonymous.get("/app.js").status_code == 200
        assert anonymous.get("/api/v2/auth/session").json() == {"authenticated": False, "user": None,
                                                                "setup_needed": False}
        assert anonymous.get("/api/v2/access").json() == {"authentication": True, "user": None}
    with auth_server.client(auth_server.tokens["read"]) as reader:
        token_user = {"name": "read-token", "role": "viewer", "kind": "token"}
        assert reader.get("/api/v2/access").json() == {"authentication": True, "user": token_user}


def test_a_wrong_token_or_cookie_is_refused(auth_server: AuthServer) -> None:
    with auth_server.client("ciq_not-a-token") as bad:
        assert bad.get("/api/v2/entities").status_code == 401
    with httpx.Client(base_url=auth_server.url, cookies={"coachiq_session": "forged"}) as forged:
        assert forged.get("/api/v2/entities").status_code == 401


async def test_websocket_refused_without_credentials_and_served_with_them(auth_server: AuthServer) -> None:
    for url in (auth_server.ws_url, auth_server.ws_url + "/can"):
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(url):
                pass
        assert refused.value.response.status_code == 401
    with pytest.raises(InvalidStatus):
        async with websockets.connect(auth_server.ws_url, additional_headers={"Authorization": "Bearer nope"}):
            pass
    async with websockets.connect(auth_server.ws_url, additional_headers=auth_server.bearer("read")) as ws:
        await ws.send(json.dumps({"type": "subscribe", "all": True}))
        async with asyncio.timeout(5):
            first = json.loads(await ws.recv())
        assert first["type"] == "snapshot"


async def _ws_command(auth_server: AuthServer, headers: dict[str, str], times: int = 1) -> dict[str, Any]:
    """Send the same command `times` times on one connection; the last result."""
    async with websockets.connect(auth_server.ws_url, additional_headers=headers) as ws:
        for n in range(times):
            await ws.send(json.dumps({"type": "command", "id": n, "entity_id": "light.galley_ceiling",
                                      "command": "turn_on"}))
        results = []
        async with asyncio.timeout(5):
            while len(results) < times:
                message = json.loads(await ws.recv())
                if message.get("type") == "command_result":
                    results.append(message)
        return dict(results[-1])


async def test_viewer_sees_everything_and_controls_nothing(auth_server: AuthServer) -> None:
    with auth_server.signed_in("vic") as viewer:
        assert viewer.get("/api/v2/entities").status_code == 200
        assert viewer.get("/api/v2/safety").status_code == 200
        refused = viewer.post(*COMMAND[:1], json=COMMAND[1])
        assert refused.status_code == 403
        assert "vic has the role viewer; only operator or above may control devices" in refused.json()["detail"]
        assert viewer.post("/api/v2/entities/commands", json={"commands": [
            {"entity_id": "light.galley_ceiling", "command": "turn_on"}]}).status_code == 403
        assert viewer.post("/api/v2/can/send", json={"dgn": "1FEDB", "data": "00"}).status_code == 403
        # /health and /metrics: a token or an admin's session.
        assert viewer.get("/health").status_code == 403
        assert viewer.get("/api/v2/auth/users").status_code == 403
        cookie = viewer.cookies["coachiq_session"]
    result = await _ws_command(auth_server, {"Cookie": f"coachiq_session={cookie}", "Origin": auth_server.url},
                               times=5)
    assert result["status"] == "forbidden" and "only operator or above" in result["reason"]
    refusals = [e for e in auth_server.audit() if e[1] == "access.refused"]
    assert any(e[0].startswith("user:vic (http:127.0.0.1)") and "commands" in e[2] for e in refusals)

    def over_websocket() -> list[tuple[Any, ...]]:
        return [e for e in auth_server.audit()
                if e[1] == "access.refused" and e[2].startswith("WS ") and e[0].startswith("user:vic")]

    deadline = time.monotonic() + 5  # written beside the answer, not before it
    while not over_websocket():
        assert time.monotonic() < deadline, auth_server.audit()[-5:]
        time.sleep(0.05)
    # Five refusals on one connection within seconds: one entry, so a repeating client cannot flood the log.
    [entry] = over_websocket()
    assert entry[2] == "WS turn_on light.galley_ceiling"
    assert entry[3] == "refused" and "only operator or above" in entry[4]


def test_emergency_stop_by_anyone_signed_in_clearing_needs_operator(auth_server: AuthServer) -> None:
    with auth_server.signed_in("vic") as viewer, auth_server.signed_in("otto") as operator:
        pressed = viewer.post("/api/v2/safety/emergency-stop")
        assert pressed.status_code == 200 and pressed.json()["emergency_stop"] is True
        assert viewer.post("/api/v2/safety/emergency-stop/clear").status_code == 403
        assert viewer.get("/api/v2/safety").json()["emergency_stop"] is True
        cleared = operator.post("/api/v2/safety/emergency-stop/clear")
        assert cleared.status_code == 200 and cleared.json()["emergency_stop"] is False
    def audited() -> bool:
        actors = {(e[0], e[1]) for e in auth_server.audit()}
        return any(a.startswith("user:vic (http:") and "emergency" in action for a, action in actors) and \
            any(a.startswith("user:otto (http:") and "clear" in action for a, action in actors)

    deadline = time.monotonic() + 5
    while not audited():
        assert time.monotonic() < deadline, auth_server.audit()[-5:]
        time.sleep(0.05)


async def test_token_scopes(auth_server: AuthServer) -> None:
    with auth_server.client(auth_server.tokens["read"]) as read:
        assert read.get("/api/v2/entities").status_code == 200
        assert read.get("/health").status_code == 200
        assert read.get("/metrics").status_code == 200
        assert read.post(*COMMAND[:1], json=COMMAND[1]).status_code == 403
        assert read.post("/api/v2/safety/emergency-stop/clear").status_code == 403
    with auth_server.client(auth_server.tokens["control"]) as control:
        confirmed = control.post(*COMMAND[:1], json=COMMAND[1])
        assert confirmed.status_code == 200, confirmed.text
        assert control.post("/api/v2/can/send", json={"dgn": "1FEDB", "data": "00"}).status_code == 403
        assert control.get("/api/v2/auth/tokens").status_code == 403
    with auth_server.client(auth_server.tokens["admin"]) as admin:
        # Past the role check: the raw-frame tool itself decides (here: an invalid frame).
        assert admin.post("/api/v2/can/send", json={"dgn": "nonsense", "data": "zz"}).status_code == 422
        assert admin.get("/api/v2/auth/tokens").status_code == 200
    assert (await _ws_command(auth_server, auth_server.bearer("read")))["status"] == "forbidden"
    assert (await _ws_command(auth_server, auth_server.bearer("control")))["status"] == "confirmed"
    # The audit entry is written beside the confirmation, not before it: wait for it.
    deadline = time.monotonic() + 5
    while not any(e[0].startswith("token:control-token (websocket:") and e[2] == "light.galley_ceiling"
                  for e in auth_server.audit()):
        assert time.monotonic() < deadline, auth_server.audit()[-5:]
        await asyncio.sleep(0.05)


def test_admin_session_may_read_health_and_manage_users(auth_server: AuthServer) -> None:
    with auth_server.signed_in("ada") as admin:
        assert admin.get("/health").status_code == 200
        names = {u["name"]: u["role"] for u in admin.get("/api/v2/auth/users").json()}
        assert names == {"ada": "admin", "otto": "operator", "vic": "viewer"}


def test_origin_with_a_session_cookie(auth_server: AuthServer) -> None:
    with auth_server.signed_in("otto") as operator:
        cookie = {"Cookie": f"coachiq_session={operator.cookies['coachiq_session']}"}
    with httpx.Client(base_url=auth_server.url, timeout=10) as program:
        # A request riding on a session cookie must say where it comes from (browsers always do).
        assert program.post(*COMMAND[:1], json=COMMAND[1], headers=cookie).status_code == 403
        assert program.post(*COMMAND[:1], json=COMMAND[1],
                            headers={**cookie, "Origin": "http://evil.example"}).status_code == 403
        assert program.post(*COMMAND[:1], json=COMMAND[1],
                            headers={**cookie, "Origin": auth_server.url}).status_code == 200
        # Without any credentials and without Origin the gate answers: sign in.
        assert program.post(*COMMAND[:1], json=COMMAND[1]).status_code == 401


def test_session_cookie_flags(auth_server: AuthServer) -> None:
    with auth_server.client() as client:
        response = client.post("/api/v2/auth/sign-in", json={"name": "vic", "password": "vic-viewer-password-3"})
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie and "max-age=" in cookie
    assert "secure" not in cookie  # plain HTTP on loopback; Secure under TLS (test_tls)
    assert response.json() == {"name": "vic", "role": "viewer", "kind": "session"}


def test_wrong_password_and_unknown_user_answer_alike(auth_server: AuthServer) -> None:
    with auth_server.client() as client:
        wrong = client.post("/api/v2/auth/sign-in", json={"name": "otto", "password": "not his password"},
                            headers={"X-Test": "1"})
        unknown = client.post("/api/v2/auth/sign-in", json={"name": "nobody", "password": "whatever123"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"] == "wrong name or password"
    assert "set-cookie" not in wrong.headers
