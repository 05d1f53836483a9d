"""End to end on a real server with the simulated coach: a device raises a trouble code, it shows
as active over REST and the WebSocket with a P2 alert (a slide is position-critical), is cleared,
and both the code and its history survive a restart."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import connect

from tests.conftest import ServerProcess, start_server
from tests.e2e.conftest import COACH_ENV, require_simulated_coach, wait_for, ws_url

ENV = {**COACH_ENV, "COACHIQ_FEATURE_DIAGNOSTICS": "true"}
SLIDE = "slide.living_room"
FAULT = {"entity_id": SLIDE, "spn": 1030, "fmi": 7, "red": True}


def codes(server: ServerProcess, **params: Any) -> dict[str, Any]:
    answer = httpx.get(server.base_url + "/api/v2/diagnostics", params=params, timeout=5)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def find(listing: list[dict[str, Any]], spn: int) -> dict[str, Any] | None:
    return next((c for c in listing if c["spn"] == spn), None)


def diagnostics_event(ws: Any, status: str, deadline_s: float = 10.0) -> dict[str, Any]:
    """The first WebSocket diagnostics event carrying the fault's code in `status`."""
    deadline = time.monotonic() + deadline_s
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no diagnostics event with status {status}"
        message = json.loads(ws.recv(timeout=remaining))
        if message.get("type") == "diagnostics":
            code = find(message["codes"], FAULT["spn"])
            if code is not None and code["status"] == status:
                return code


def test_fault_raised_seen_cleared_and_kept_over_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data, env=ENV)
    try:
        require_simulated_coach(server)
        with connect(ws_url(server), additional_headers={"Origin": server.base_url}) as ws:
            ws.send(json.dumps({"type": "subscribe", "entities": [SLIDE]}))
            answer = httpx.post(server.base_url + "/api/v2/sim/fault", json=FAULT, timeout=5)
            assert answer.status_code == 200, answer.text
            event = diagnostics_event(ws, "active")
            assert event["fmi_description"] == "Mechanical device not responding"
            assert event["device"]["dsa_name"] == "Slide room #1"
            assert event["device"]["class"] == "position_critical"

            active = wait_for(lambda: find(codes(server)["active"], 1030))
            assert active["count"] == 1 and active["red_lamp"] is True and active["dsa"] == 84
            alerts = httpx.get(server.base_url + "/health").json()
            assert any(a["source"] == "diagnostics" and a["priority"] == "P2" and "Slide room #1" in a["message"]
                       for a in alerts["alerts"]), alerts["alerts"]

            answer = httpx.post(server.base_url + "/api/v2/sim/fault", json={**FAULT, "active": False}, timeout=5)
            assert answer.status_code == 200, answer.text
            ended = diagnostics_event(ws, "previously_active")
            assert ended["id"] == active["id"]
            alerts = httpx.get(server.base_url + "/health").json()["alerts"]
            assert not any(a["source"] == "diagnostics" for a in alerts), alerts
        listing = codes(server)
        assert find(listing["active"], 1030) is None
        assert find(listing["history"], 1030)["status"] == "previously_active"
    finally:
        assert server.stop() == 0

    second = start_server(data, env=ENV)
    try:
        kept = find(codes(second)["history"], 1030)
        assert kept is not None and kept["status"] == "previously_active" and kept["count"] == 1
        answer = httpx.post(second.base_url + "/api/v2/diagnostics/clear-history", json={}, timeout=5)
        assert answer.status_code == 200 and answer.json()["cleared"] >= 1, answer.text
        assert find(codes(second)["history"], 1030) is None
        assert find(codes(second, status="cleared")["history"], 1030)["cleared_at"] is not None
    finally:
        assert second.stop() == 0
