"""Limits on what a client can make the server hold or parse, tried against a real server on loopback."""

from __future__ import annotations

import contextlib
import json
import socket
import statistics
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.conftest import ServerProcess, start_server

DEEP = "[" * 20_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module; its log is checked for tracebacks at the end."""
    running = start_server(tmp_path_factory.mktemp("limits") / "data")
    try:
        yield running
    finally:
        running.stop()
    log = (running.data_dir / "logs" / "coachiq.log").read_text()
    for sign in ("Traceback", "RecursionError", "Exception in ASGI application"):
        assert sign not in log, log[-3000:]
        assert sign not in running.errors, running.errors[-3000:]


def _port(server: ServerProcess) -> int:
    return int(server.base_url.rsplit(":", 1)[1])


def _answer(sock: socket.socket, timeout: float = 5) -> bytes:
    """Everything the server sends until it closes the connection (or `timeout` passes)."""
    sock.settimeout(timeout)
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (TimeoutError, ConnectionResetError):
        pass
    return b"".join(chunks)


def _closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed `sock`, or None if it was still open after `seconds`."""
    began = time.monotonic()
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - began


def test_a_body_over_64_kb_is_refused(server: ServerProcess) -> None:
    url = server.base_url + "/api/v2/entities/commands"
    response = httpx.post(url, content=b'{"commands": [' + b" " * 70_000 + b"]}",
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"commands": ['
        for _ in range(100):
            yield b" " * 1000
        yield b"]}"

    response = httpx.post(url, content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413


def test_a_huge_declared_body_is_refused_before_it_is_sent(server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=5) as sock:
        sock.sendall(b"POST /api/v2/entities/commands HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 30000000\r\n\r\n[")
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]


def test_a_deeply_nested_body_is_a_clear_error(server: ServerProcess) -> None:
    for path in ("/api/v2/entities/commands", "/api/v2/safety/emergency-stop",
                 "/api/v2/entities/interior.ceiling_light/commands"):
        response = httpx.post(server.base_url + path, content=DEEP, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, (path, response.text)
        assert "deeper than 32 levels" in response.json()["detail"]
    assert not httpx.get(server.base_url + "/api/v2/safety").json()["emergency_stop"]


def test_a_body_that_stops_arriving_is_given_up(server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=5) as sock:
        sock.sendall(b"POST /api/v2/entities/commands HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{")
        answer = _answer(sock, timeout=20)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:100]


@pytest.mark.parametrize("path", ["/api/v2/ws", "/api/v2/ws/can"])
def test_deep_json_on_a_websocket_is_answered_and_the_socket_stays(server: ServerProcess, path: str) -> None:
    url = server.base_url.replace("http://", "ws://") + path
    with connect(url, open_timeout=5) as ws:
        ws.send(DEEP)
        reply = json.loads(ws.recv(timeout=5))
        assert reply["type"] == "error" and "deeper than 32 levels" in reply["reason"]
        ws.send(json.dumps({"type": "subscribe", "dgns": [0x1FFB7]} if path.endswith("can") else
                           {"type": "ping", "id": 1}))
        assert json.loads(ws.recv(timeout=5))["type"] in ("pong", "subscribed")


@pytest.mark.parametrize("path", ["/api/v2/ws", "/api/v2/ws/can"])
def test_an_oversized_websocket_message_closes_with_1009(server: ServerProcess, path: str) -> None:
    url = server.base_url.replace("http://", "ws://") + path
    with connect(url, open_timeout=5, max_size=None) as ws:
        ws.send(json.dumps({"type": "ping", "pad": "x" * 70_000}))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


def test_headers_and_urls_are_bounded(server: ServerProcess) -> None:
    base = server.base_url
    many = {f"x-filler-{i}": "1" for i in range(70)}
    assert httpx.get(base + "/healthz", headers=many).status_code == 431
    assert httpx.get(base + "/healthz", headers={"x-big": "a" * 40_000}).status_code == 431
    assert httpx.get(base + "/healthz?" + "a" * 9000).status_code == 414
    assert httpx.get(base + "/healthz", headers={f"x-filler-{i}": "1" for i in range(40)}).status_code == 200


def test_an_endless_header_line_does_not_grow_without_bound(server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=5) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Endless: ")
        try:
            for _ in range(200):  # 2 MB unless the server stops it
                sock.sendall(b"a" * 10_000)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = _answer(sock)
    assert answer.startswith(b"HTTP/1.1 431"), answer[:100]


def test_silent_and_half_sent_connections_are_closed(server: ServerProcess) -> None:
    port = _port(server)
    silent = socket.create_connection(("127.0.0.1", port), timeout=5)
    half = socket.create_connection(("127.0.0.1", port), timeout=5)
    idle = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        half.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        idle.settimeout(5)
        assert idle.recv(65536).startswith(b"HTTP/1.1 200")
        # Idle after a response: the keep-alive timeout (5 s); before the headers end: 10 s.
        idle_after = _closed_within(idle, 9)
        assert idle_after is not None and idle_after < 9
        for sock in (silent, half):
            closed_after = _closed_within(sock, 10)
            assert closed_after is not None
    finally:
        for sock in (silent, half, idle):
            sock.close()


def test_one_address_cannot_hold_every_connection(server: ServerProcess) -> None:
    port = _port(server)
    held = []
    try:
        for _ in range(64):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            sock.settimeout(5)
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")  # served, and now held open
            held.append(sock)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as extra:
            extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            answer = _answer(extra)
        assert answer.startswith(b"HTTP/1.1 503"), answer[:100]
    finally:
        for sock in held:
            sock.close()
    deadline = time.monotonic() + 5
    while httpx.get(server.base_url + "/healthz").status_code != 200:
        assert time.monotonic() < deadline, "connections were not released"
        time.sleep(0.05)


def test_parsing_a_maximal_body_does_not_block_the_server(server: ServerProcess) -> None:
    # The worst bodies the limits let through (64 KB of brackets just within the depth limit, 64 KB of
    # numbers, 64 KB of brackets too deep), and a 30 MB array they refuse, posted back to back while
    # /healthz is timed on another connection.
    bodies = [(b"[" * 32 + b"]" * 32) * 1000, json.dumps({"commands": list(range(12_000))}).encode()[:65_000] + b"]}",
              b"[" * 65_000, b"[" + b"0," * 15_000_000 + b"0]"]
    stop = threading.Event()

    def flood() -> None:
        with httpx.Client(base_url=server.base_url, headers={"Content-Type": "application/json"}) as client:
            while not stop.is_set():
                for body in bodies:
                    # The server answers 413 to the large one and closes before the body is sent.
                    with contextlib.suppress(httpx.TransportError):
                        client.post("/api/v2/entities/commands", content=body)

    flooder = threading.Thread(target=flood)
    flooder.start()
    latencies = []
    try:
        with httpx.Client(base_url=server.base_url) as client:
            for _ in range(200):
                began = time.perf_counter()
                assert client.get("/healthz").status_code == 200
                latencies.append(time.perf_counter() - began)
    finally:
        stop.set()
        flooder.join()
    # Before the limits a 30 MB body held /healthz for 3.4 s; a few ms of parsing per body remain.
    assert statistics.median(latencies) < 0.05 and max(latencies) < 0.25, (statistics.median(latencies),
                                                                           max(latencies))
