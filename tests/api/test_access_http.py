"""Host, Origin and form checks, tried as a foreign page or a DNS-rebinding name would, on a real server."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Origin

from tests.conftest import ServerProcess, start_server

FOREIGN = "http://attacker.example"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module, with one extra name and one extra origin configured."""
    running = start_server(tmp_path_factory.mktemp("access") / "data",
                           env={"COACHIQ_ALLOWED_HOSTS": "coachiq.local",
                                "COACHIQ_ALLOWED_ORIGINS": "http://tablet.lan:9000"})
    try:
        yield running
    finally:
        running.stop()


def _port(server: ServerProcess) -> int:
    return int(server.base_url.rsplit(":", 1)[1])


def _ws_url(server: ServerProcess, path: str) -> str:
    return server.base_url.replace("http://", "ws://") + path


def _raw(server: ServerProcess, request: bytes) -> bytes:
    """Send one raw request and return what the server answers until it closes or 2 s pass."""
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=5) as sock:
        sock.sendall(request)
        sock.settimeout(2)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks):
                    break
        except TimeoutError:
            pass
        return b"".join(chunks)


def _emergency_stop(server: ServerProcess) -> bool:
    return bool(httpx.get(server.base_url + "/api/v2/safety").json()["emergency_stop"])


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:8080", "127.0.0.1.nip.io", "localhost.evil"])
def test_a_foreign_host_name_is_misdirected(server: ServerProcess, host: str) -> None:
    response = httpx.get(server.base_url + "/api/v2/entities", headers={"Host": host})
    assert response.status_code == 421
    assert response.headers["content-type"] == "application/problem+json"
    assert "COACHIQ_ALLOWED_HOSTS" in response.json()["detail"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LOCALHOST", "[::1]", "coachiq.local", "127.0.0.2"])
def test_own_names_are_answered(server: ServerProcess, host: str) -> None:
    port = _port(server)
    for value in (host, f"{host}:{port}"):
        assert httpx.get(server.base_url + "/healthz", headers={"Host": value}).status_code == 200


def test_a_request_without_host_is_refused(server: ServerProcess) -> None:
    answer = _raw(server, b"GET /healthz HTTP/1.0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400")


@pytest.mark.parametrize("path", ["/api/v2/ws", "/api/v2/ws/can"])
def test_a_websocket_from_a_foreign_page_is_refused(server: ServerProcess, path: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(_ws_url(server, path), origin=Origin(FOREIGN), open_timeout=5)
    assert refused.value.response.status_code == 403
    with pytest.raises(InvalidStatus) as null_origin:
        connect(_ws_url(server, path), origin=Origin("null"), open_timeout=5)
    assert null_origin.value.response.status_code == 403


@pytest.mark.parametrize("path", ["/api/v2/ws", "/api/v2/ws/can"])
def test_a_websocket_under_a_rebound_name_is_refused(server: ServerProcess, path: str) -> None:
    # DNS rebinding: the attacker's name now points at 127.0.0.1, so Host and Origin agree with each other.
    port = _port(server)
    handshake = (f"GET {path} HTTP/1.1\r\nHost: rebind.attacker.example:{port}\r\n"
                 f"Origin: http://rebind.attacker.example:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
    answer = _raw(server, handshake)
    assert answer.startswith(b"HTTP/1.1 403"), answer[:80]


def test_the_own_page_and_configured_origins_open_the_websocket(server: ServerProcess) -> None:
    for origin in (server.base_url, server.base_url.replace("127.0.0.1", "localhost"), "http://tablet.lan:9000"):
        host = origin.removeprefix("http://")
        headers = {"Host": host} if "tablet" not in origin else {}
        with connect(_ws_url(server, "/api/v2/ws"), origin=Origin(origin), additional_headers=headers,
                     open_timeout=5) as ws:
            ws.send(json.dumps({"type": "ping", "id": 7}))
            assert json.loads(ws.recv(timeout=5)) == {"type": "pong", "id": 7}


def test_a_program_without_origin_opens_the_websocket(server: ServerProcess) -> None:
    # No browser leaves Origin out; without authentication, programs on this machine are let in.
    with connect(_ws_url(server, "/api/v2/ws/can"), open_timeout=5) as ws:
        ws.send(json.dumps({"type": "unsubscribe"}))
        assert json.loads(ws.recv(timeout=5))["type"] == "unsubscribed"


def test_a_form_from_a_foreign_page_does_not_clear_the_emergency_stop(server: ServerProcess) -> None:
    base = server.base_url
    assert httpx.post(base + "/api/v2/safety/emergency-stop", json={}).status_code == 200
    try:
        assert _emergency_stop(server)
        # What a hidden auto-submitting form on a foreign page sends: urlencoded, with or without fields.
        for body in (b"", b"confirm=yes"):
            response = httpx.post(base + "/api/v2/safety/emergency-stop/clear", content=body,
                                  headers={"Origin": FOREIGN, "Content-Type": "application/x-www-form-urlencoded"})
            assert response.status_code == 403, response.text
            assert response.headers["content-type"] == "application/problem+json"
        # JSON from a foreign page (a fetch that ignores the CORS answer) is refused just the same.
        response = httpx.post(base + "/api/v2/safety/emergency-stop/clear", json={}, headers={"Origin": FOREIGN})
        assert response.status_code == 403
        assert _emergency_stop(server)
    finally:
        assert httpx.post(base + "/api/v2/safety/emergency-stop/clear", json={}).status_code == 200
    assert not _emergency_stop(server)


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                                          "text/plain", "application/xml"])
def test_only_json_bodies_are_taken_even_from_the_own_page(server: ServerProcess, content_type: str) -> None:
    base = server.base_url
    for body in (b"", b'{"x": 1}'):
        response = httpx.post(base + "/api/v2/safety/emergency-stop", content=body,
                              headers={"Origin": base, "Content-Type": content_type})
        assert response.status_code == 415, response.text
        assert "application/json" in response.json()["detail"]
    assert not _emergency_stop(server)
    response = httpx.post(base + "/api/v2/safety/emergency-stop", content=b'{"a": 1}', headers={"Origin": base})
    assert response.status_code == 415  # a body without any Content-Type


def test_the_own_page_and_programs_still_control(server: ServerProcess) -> None:
    base = server.base_url
    for headers in ({"Origin": base}, {"Origin": "http://tablet.lan:9000"}, {}):
        assert httpx.post(base + "/api/v2/safety/emergency-stop", headers=headers).status_code == 200
        response = httpx.post(base + "/api/v2/safety/emergency-stop/clear", json={},
                              headers={**headers, "Content-Type": "application/json; charset=utf-8"})
        assert response.status_code == 200
        assert not response.json()["emergency_stop"]


def test_put_patch_delete_are_checked_too(server: ServerProcess) -> None:
    for method in ("PUT", "PATCH", "DELETE"):
        response = httpx.request(method, server.base_url + "/api/v2/safety", headers={"Origin": FOREIGN})
        assert response.status_code == 403


def test_no_redirect_takes_its_location_from_host(server: ServerProcess) -> None:
    for path in ("/api/v2/entities/", "/api/v2/safety/", "/docs/", "/healthz/"):
        response = httpx.get(server.base_url + path, headers={"Host": f"localhost:{_port(server)}"})
        assert not response.is_redirect, (path, response.headers.get("location"))
        assert "location" not in response.headers


def test_the_allowed_lists_are_validated(tmp_path: Path) -> None:
    from tests.conftest import clean_env, run_cli

    result = run_cli("config", "check", env=clean_env(COACHIQ_ALLOWED_ORIGINS="tablet.lan",
                                                      COACHIQ_DATA_DIR=str(tmp_path)))
    assert result.returncode != 0
    assert "scheme://host[:port]" in result.stderr + result.stdout
    result = run_cli("config", "check", env=clean_env(COACHIQ_ALLOWED_HOSTS="coachiq.local, *.lan",
                                                      COACHIQ_DATA_DIR=str(tmp_path)))
    assert result.returncode != 0
    assert "'*.lan' is not a host name" in result.stderr + result.stdout
