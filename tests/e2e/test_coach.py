"""End to end: a `coachiq serve` process on the simulated coach, real HTTP and real WebSocket clients."""

from __future__ import annotations

import json
from typing import Any

import httpx
from websockets.sync.client import connect

from tests.conftest import ServerProcess
from tests.e2e.conftest import parked, wait_for, ws_url


def receive_until(ws: Any, wanted: Any, timeout: float = 10.0) -> list[dict[str, Any]]:
    """Messages received up to and including the first for which wanted(message) is true."""
    seen: list[dict[str, Any]] = []
    while True:
        message = json.loads(ws.recv(timeout=timeout))
        seen.append(message)
        if wanted(message):
            return seen


def test_light_turned_on_is_confirmed_and_the_update_arrives(coach_server: ServerProcess) -> None:
    with connect(ws_url(coach_server)) as ws:
        ws.send(json.dumps({"type": "subscribe", "entities": ["light.bedroom_ceiling"]}))
        snapshot = receive_until(ws, lambda m: m["type"] == "snapshot")[-1]
        assert [e["id"] for e in snapshot["entities"]] == ["light.bedroom_ceiling"]
        response = httpx.post(coach_server.base_url + "/api/v2/entities/light.bedroom_ceiling/commands",
                              json={"command": "turn_on"}, timeout=10)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "confirmed" and response.json()["state"]["on"] is True
        update = receive_until(ws, lambda m: m["type"] == "update" and m["values"].get("on") is True)[-1]
        assert update["entity_id"] == "light.bedroom_ceiling" and update["source"]["source_address"] == 0x60


def test_slide_command_while_moving_is_refused_with_the_reason(coach_server: ServerProcess) -> None:
    base = coach_server.base_url
    try:
        assert httpx.post(base + "/api/v2/sim/chassis", json={"moving": True, "park_brake": False}).is_success
        wait_for(lambda: httpx.get(base + "/api/v2/safety").json()["vehicle_state"] == "moving")
        response = httpx.post(base + "/api/v2/entities/slide.galley/commands",
                              json={"command": "extend", "duration_s": 5}, timeout=10)
        assert response.status_code == 409
        assert response.headers["content-type"] == "application/problem+json"
        assert "moving" in response.json()["reason"]
    finally:
        httpx.post(base + "/api/v2/sim/chassis", json={"moving": False, "park_brake": True})
        wait_for(lambda: parked(coach_server), timeout=30)


def test_emergency_stop_stops_a_moving_slide(coach_server: ServerProcess) -> None:
    base = coach_server.base_url
    with connect(ws_url(coach_server)) as ws:
        ws.send(json.dumps({"type": "subscribe", "entities": ["slide.bedroom"]}))
        receive_until(ws, lambda m: m["type"] == "snapshot")
        ws.send(json.dumps({"type": "command", "id": 1, "entity_id": "slide.bedroom", "command": "extend",
                            "duration_s": 20}))
        seen = receive_until(ws, lambda m: m["type"] == "command_result")
        assert seen[-1]["status"] == "confirmed", seen[-1]
        moving = [m for m in seen if m["type"] == "update" and m["values"].get("motion") == "extending"]
        if not moving:
            receive_until(ws, lambda m: m["type"] == "update" and m["values"].get("motion") == "extending")
        try:
            stop = httpx.post(base + "/api/v2/safety/emergency-stop", timeout=10)
            assert stop.status_code == 200 and stop.json()["emergency_stop"] is True
            receive_until(ws, lambda m: m["type"] == "update" and m["values"].get("motion") == "stopped")
            again = httpx.post(base + "/api/v2/entities/slide.bedroom/commands",
                               json={"command": "extend", "duration_s": 5}, timeout=10)
            assert again.status_code == 409 and "emergency" in again.json()["reason"]
        finally:
            cleared = httpx.post(base + "/api/v2/safety/emergency-stop/clear", timeout=10)
            assert cleared.json()["emergency_stop"] is False


def test_bad_input_gets_clear_errors_and_the_server_keeps_serving(coach_server: ServerProcess) -> None:
    base = coach_server.base_url
    unknown = httpx.post(base + "/api/v2/entities/light.nowhere/commands", json={"command": "turn_on"})
    assert unknown.status_code == 404 and "light.nowhere" in unknown.json()["detail"]
    bad_command = httpx.post(base + "/api/v2/entities/light.porch/commands", json={"command": "explode"})
    assert bad_command.status_code == 422 and "explode" in bad_command.json()["detail"]
    out_of_range = httpx.post(base + "/api/v2/entities/light.bedroom_ceiling/commands",
                              json={"command": "set_brightness", "brightness": 101})
    assert out_of_range.status_code == 422 and "brightness" in out_of_range.json()["detail"]
    too_long = httpx.post(base + "/api/v2/entities/slide.galley/commands",
                          json={"command": "extend", "duration_s": 3600})
    assert too_long.status_code == 422 and "duration_s" in too_long.json()["detail"]
    not_json = httpx.post(base + "/api/v2/entities/light.porch/commands", content=b"{oops",
                          headers={"content-type": "application/json"})
    assert not_json.status_code == 422
    with connect(ws_url(coach_server)) as ws:
        for text in ("{oops", "42", '{"type": "subscribe", "types": ["boat"]}', '{"type": "command"}',
                     '{"type": "fly"}'):
            ws.send(text)
            reply = json.loads(ws.recv(timeout=5))
            assert reply["type"] in ("error", "command_result") and reply["reason"], reply
        ws.send(json.dumps({"type": "ping", "id": 3}))
        assert json.loads(ws.recv(timeout=5)) == {"type": "pong", "id": 3}
    assert httpx.get(base + "/readyz").status_code == 200
    assert coach_server.process.poll() is None
