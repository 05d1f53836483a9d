"""A `coachiq serve` subprocess on the simulated Class A coach, shared by a module's tests."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess, start_server

COACH_ENV = {"COACHIQ_COACH": "class_a_diesel", "COACHIQ_FLUSH_INTERVAL": "0.2"}


def ws_url(server: ServerProcess, path: str = "/api/v2/ws") -> str:
    """The WebSocket URL of `path` on the server."""
    return server.base_url.replace("http://", "ws://") + path


def require_simulated_coach(server: ServerProcess) -> None:
    """Fail unless the server runs the simulated coach: without CAN hardware it must (nothing else answers)."""
    deadline = time.monotonic() + 3.0
    while True:  # the simulation may start just after the core is ready
        answer = httpx.post(server.base_url + "/api/v2/sim/chassis", json={"moving": False, "park_brake": True})
        if answer.status_code != 404 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert answer.status_code == 200, f"the server does not run the simulated coach: {answer.text}"


def wait_for(check: Any, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Call check() until it returns something true; return that."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s")
        time.sleep(interval)


def parked(server: ServerProcess) -> bool:
    """True once the server sees the coach parked with the park brake set."""
    safety = httpx.get(server.base_url + "/api/v2/safety").json()
    return bool(safety["vehicle_state"] == "parked" and safety["interlocks"].get("park_brake_set"))


@pytest.fixture(scope="module")
def coach_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module's tests, parked with the park brake set."""
    server = start_server(tmp_path_factory.mktemp("e2e") / "data", env=COACH_ENV)
    try:
        require_simulated_coach(server)
        wait_for(lambda: parked(server))
        yield server
    finally:
        server.stop()


def messages(raw: list[str | bytes]) -> list[dict[str, Any]]:
    """Decode received WebSocket text messages."""
    return [json.loads(m) for m in raw]


def data_dir_of(server: ServerProcess) -> Path:
    """The server's data folder."""
    return server.data_dir
