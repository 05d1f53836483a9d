"""End to end: the leveling jacks of the simulated Class A coach through a real server's API and WebSocket.

Auto level levels the coach, retract all stores the jacks, a held manual motion stops when its client
goes, emergency stop aborts an automatic cycle, and every mode is refused while the coach may move.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from websockets.sync.client import connect

from tests.conftest import ServerProcess
from tests.e2e.conftest import parked, wait_for, ws_url
from tests.e2e.test_coach import receive_until

ENTITY = "jack.leveling"


def state(server: ServerProcess) -> dict[str, Any]:
    answer = httpx.get(f"{server.base_url}/api/v2/entities/{ENTITY}", timeout=10)
    answer.raise_for_status()
    return dict(answer.json()["state"])


def command(server: ServerProcess, name: str, **params: Any) -> httpx.Response:
    return httpx.post(f"{server.base_url}/api/v2/entities/{ENTITY}/commands", json={"command": name, **params},
                      timeout=10)


def stored_and_idle(server: ServerProcess) -> bool:
    now = state(server)
    return now.get("stored") is True and now.get("mode") == "inactive"


def test_auto_level_levels_the_coach_and_retract_all_stores_the_jacks(coach_server: ServerProcess) -> None:
    wait_for(lambda: state(coach_server).get("level") is not None)
    before = state(coach_server)
    assert before["level"] is False and before["stored"] is True  # the simulated site slopes
    with connect(ws_url(coach_server)) as ws:
        ws.send(json.dumps({"type": "subscribe", "entities": [ENTITY]}))
        receive_until(ws, lambda m: m["type"] == "snapshot")
        ws.send(json.dumps({"type": "command", "id": 7, "entity_id": ENTITY, "command": "auto_level"}))
        result = receive_until(ws, lambda m: m["type"] == "command_result")[-1]
        assert result["status"] == "confirmed", result
        assert result["state"]["mode"] == "automatic_hydraulic_leveling"
        receive_until(ws, lambda m: m["type"] == "update" and m["values"].get("level") is True, timeout=30)
    wait_for(lambda: state(coach_server)["mode"] == "inactive", timeout=10)
    level = state(coach_server)
    assert abs(level["pitch"]) <= 0.25 and abs(level["roll"]) <= 0.25
    assert all(jack["grounded"] and jack["extended"] for jack in level["jacks"].values())
    assert level["stored"] is False

    stored = command(coach_server, "retract_all")
    assert stored.status_code == 200, stored.text
    assert stored.json()["state"]["mode"] == "store"
    wait_for(lambda: stored_and_idle(coach_server), timeout=30)
    assert all(jack["extended"] is False for jack in state(coach_server)["jacks"].values())


def test_a_held_jack_stops_when_its_client_goes(coach_server: ServerProcess) -> None:
    with connect(ws_url(coach_server)) as ws:
        ws.send(json.dumps({"type": "subscribe", "entities": [ENTITY]}))
        receive_until(ws, lambda m: m["type"] == "snapshot")
        ws.send(json.dumps({"type": "command", "id": 1, "entity_id": ENTITY, "command": "extend",
                            "jack": "right_rear", "duration_s": 20}))
        result = receive_until(ws, lambda m: m["type"] == "command_result")[-1]
        assert result["status"] == "confirmed", result
        assert result["state"]["jacks"]["right_rear"]["motion"] == "extending"
    # The page is gone: the server stops the jack long before the 20 s it asked for.
    wait_for(lambda: state(coach_server)["motion"] == "stopped", timeout=5)
    assert state(coach_server)["jacks"]["right_rear"]["extended"] is True
    assert command(coach_server, "retract_all").status_code == 200
    wait_for(lambda: stored_and_idle(coach_server), timeout=30)


def test_emergency_stop_aborts_automatic_leveling(coach_server: ServerProcess) -> None:
    base = coach_server.base_url
    assert command(coach_server, "auto_level").status_code == 200
    try:
        stop = httpx.post(base + "/api/v2/safety/emergency-stop", timeout=10)
        assert stop.status_code == 200
        wait_for(lambda: state(coach_server)["motion"] == "stopped" and state(coach_server)["mode"] == "inactive")
        refused = command(coach_server, "auto_level")
        assert refused.status_code == 409 and "emergency" in refused.json()["reason"]
    finally:
        assert httpx.post(base + "/api/v2/safety/emergency-stop/clear", timeout=10).json()["emergency_stop"] is False
    assert command(coach_server, "retract_all").status_code == 200
    wait_for(lambda: stored_and_idle(coach_server), timeout=30)


MODES = [("auto_level", {}), ("retract_all", {}), ("clear_error", {}), ("extend", {"jack": "left_front"}),
         ("retract", {"jack": "right_rear"}), ("extend", {"pair": "front"}), ("retract", {"pair": "left"})]


def test_every_mode_is_refused_while_the_coach_may_move(coach_server: ServerProcess) -> None:
    base = coach_server.base_url
    try:
        # Stopped with the park brake released: the coach may roll.
        assert httpx.post(base + "/api/v2/sim/chassis", json={"moving": False, "park_brake": False}).is_success
        wait_for(lambda: httpx.get(base + "/api/v2/safety").json()["interlocks"]["park_brake_set"] is False)
        for name, params in MODES:
            refused = command(coach_server, name, **params)
            assert refused.status_code == 409, (name, refused.text)
            assert "park brake" in refused.json()["reason"], name
        # Driving.
        assert httpx.post(base + "/api/v2/sim/chassis", json={"moving": True, "park_brake": False}).is_success
        wait_for(lambda: httpx.get(base + "/api/v2/safety").json()["vehicle_state"] == "moving")
        for name, params in MODES:
            refused = command(coach_server, name, **params)
            assert refused.status_code == 409, (name, refused.text)
            assert "moving" in refused.json()["reason"], name
        assert state(coach_server)["mode"] == "inactive" and state(coach_server)["stored"] is True
        assert command(coach_server, "stop").status_code == 200  # stop (abort) is never refused
    finally:
        httpx.post(base + "/api/v2/sim/chassis", json={"moving": False, "park_brake": True})
        wait_for(lambda: parked(coach_server), timeout=30)
