"""Running out of file descriptors: a real server started with a low RLIMIT_NOFILE, flooded with connections.

It must say so once (not a traceback per failed accept), make room by closing idle connections, and
answer an emergency stop as soon as descriptors are free again.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import ServerProcess, clean_env, free_port

OPEN_FILES = 80
_LAUNCH = ("import resource, sys; resource.setrlimit(resource.RLIMIT_NOFILE, ({n}, {n})); "
           "from coachiq.cli import main; sys.exit(main())")


def _start(data_dir: Path) -> ServerProcess:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", _LAUNCH.format(n=OPEN_FILES), "serve", "--port", str(port)],
                               env=clean_env(COACHIQ_DATA_DIR=str(data_dir)), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    server = ServerProcess(process, f"http://127.0.0.1:{port}", data_dir)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, server.stop()
        try:
            if httpx.get(server.base_url + "/readyz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    server.stop(signal.SIGKILL)
    raise AssertionError("server did not become ready in time")


def _held_connection(port: int, source: str) -> socket.socket:
    """A connection that made one request and now idles in keep-alive, holding a descriptor."""
    sock = socket.socket()
    sock.bind((source, 0))
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    return sock


def test_out_of_descriptors_is_reported_once_and_the_emergency_stop_gets_through(tmp_path: Path) -> None:
    server = _start(tmp_path / "data")
    port = int(server.base_url.rsplit(":", 1)[1])
    log_file = tmp_path / "data" / "logs" / "coachiq.log"
    held: list[socket.socket] = []
    try:
        # More connections than the process may open, from several addresses (one address may hold 64).
        for i in range(OPEN_FILES + 20):
            held.append(_held_connection(port, f"127.0.0.{2 + i // 50}"))
        deadline = time.monotonic() + 10
        while not any(sign in log_file.read_text() for sign in ("out of file descriptors", "out of system resource")):
            assert time.monotonic() < deadline, "the server never ran out of descriptors"
            time.sleep(0.05)
        # The emergency stop needs a descriptor of its own: it gets one once idle connections are closed,
        # well before their 5 s keep-alive timeout.
        began = time.monotonic()
        response = httpx.post(server.base_url + "/api/v2/safety/emergency-stop", json={}, timeout=10)
        elapsed = time.monotonic() - began
        assert response.status_code == 200 and response.json()["emergency_stop"]
        assert elapsed < 3, f"the emergency stop took {elapsed:.1f} s"
    finally:
        for sock in held:
            sock.close()
        assert server.stop() == 0
    log = log_file.read_text()
    assert log.count("out of file descriptors") == 1, log[-2000:]
    assert "Traceback" not in log and "socket.accept() out of system resource" not in log
    assert server.errors.count("out of file descriptors") == 1
    assert "Traceback" not in server.errors
