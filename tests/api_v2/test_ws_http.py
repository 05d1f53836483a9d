"""/api/v2/ws and /api/v2/ws/can with real WebSocket clients against the simulated coach."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets

from tests.api_v2.conftest import Coach, wait_until


async def receive_until(socket: Any, wanted: Any, timeout: float = 5.0) -> dict[str, Any]:
    """The first message for which wanted(message) is true."""
    async with asyncio.timeout(timeout):
        while True:
            message: dict[str, Any] = json.loads(await socket.recv())
            if wanted(message):
                return message


async def test_command_over_the_socket_and_its_update(coach: Coach) -> None:
    async with websockets.connect(coach.ws_url) as ws:
        await ws.send(json.dumps({"type": "subscribe", "areas": ["galley"]}))
        snapshot = await receive_until(ws, lambda m: m["type"] == "snapshot")
        assert {e["area"] for e in snapshot["entities"]} == {"galley"}
        await ws.send(json.dumps({"type": "command", "id": "a1", "entity_id": "light.galley_ceiling",
                                  "command": "set_brightness", "brightness": 30}))
        # The device's echo (the update) and the confirmation may arrive in either order.
        seen: list[dict[str, Any]] = []

        def both(message: dict[str, Any]) -> bool:
            seen.append(message)
            return any(m["type"] == "command_result" for m in seen) and any(
                m["type"] == "update" and m["values"].get("brightness") == 30 for m in seen)

        await receive_until(ws, both)
        result = next(m for m in seen if m["type"] == "command_result")
        assert result["id"] == "a1" and result["status"] == "confirmed" and result["state"]["brightness"] == 30
        update = next(m for m in seen if m["type"] == "update" and m["values"].get("brightness") == 30)
        assert update["entity_id"] == "light.galley_ceiling"
        assert update["source"]["source_address"] == 0x60 and update["timestamp"] > 0
        await ws.send(json.dumps({"type": "command", "id": "a2", "entity_id": "light.galley_ceiling",
                                  "command": "set_brightness", "brightness": 300}))
        invalid = await receive_until(ws, lambda m: m["type"] == "command_result")
        assert invalid["status"] == "invalid" and "brightness" in invalid["reason"]
        await ws.send(json.dumps({"type": "command", "id": "a3", "entity_id": "light.nowhere", "command": "x"}))
        missing = await receive_until(ws, lambda m: m["type"] == "command_result")
        assert missing["status"] == "not_found"


async def test_motion_stops_when_its_client_goes_away(coach: Coach) -> None:
    motions = coach.runtime.core.entities.motions
    async with websockets.connect(coach.ws_url) as ws:
        await ws.send(json.dumps({"type": "command", "id": 1, "entity_id": "slide.living_room",
                                  "command": "extend", "duration_s": 20}))
        result = await receive_until(ws, lambda m: m["type"] == "command_result")
        assert result["status"] == "confirmed", result
        assert "slide.living_room" in motions
        motor = coach.sim.devices["slide.living_room"]
        await wait_until(lambda: motor.moving is not None)  # type: ignore[attr-defined]
    # The socket closed with 20 s of motion left: the slide's motor stops at once.
    await wait_until(lambda: "slide.living_room" not in motions, timeout=2)
    await wait_until(lambda: motor.moving is None, timeout=3)  # type: ignore[attr-defined]


async def test_can_stream_filtered_by_dgn(coach: Coach) -> None:
    url = coach.base_url.replace("http://", "ws://") + "/api/v2/ws/can"
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"type": "subscribe", "dgns": ["TANK_STATUS"]}))
        ack = await receive_until(ws, lambda m: m["type"] == "subscribed")
        assert ack["dgns"] == [coach.runtime.core.rvc.codec.spec_for("TANK_STATUS").dgn]  # type: ignore[union-attr]
        frame = await receive_until(ws, lambda m: m["type"] == "frame")
        assert frame["name"] == "TANK_STATUS" and frame["source_address"] == 0x48 and frame["data"]
        await ws.send(json.dumps({"type": "subscribe", "dgns": ["NOPE"]}))
        error = await receive_until(ws, lambda m: m["type"] == "error")
        assert "NOPE" in error["reason"]
        await ws.send("{")
        assert (await receive_until(ws, lambda m: m["type"] == "error"))["reason"].startswith("not valid JSON")


async def test_safety_changes_are_pushed_to_every_client_at_once(coach: Coach) -> None:
    sockets = [await websockets.connect(coach.ws_url) for _ in range(3)]
    try:
        for number, ws in enumerate(sockets):
            # Subscriptions differ: the safety state goes to every client all the same.
            await ws.send(json.dumps({"type": "subscribe", "areas": ["galley"] if number else ["bedroom"]}))
            snapshot = await receive_until(ws, lambda m: m["type"] == "snapshot")
            assert snapshot["safety"]["emergency_stop"] is False
            assert snapshot["safety"]["vehicle_state"] == "parked"
        loop = asyncio.get_running_loop()
        began = loop.time()
        answer = await coach.http.post("/api/v2/safety/emergency-stop")
        assert answer.status_code == 200
        for ws in sockets:
            pushed = await receive_until(ws, lambda m: m["type"] == "safety" and m["emergency_stop"])
            assert pushed["safe_state"] is True and "emergency stop is set" in pushed["reasons"]
        assert loop.time() - began < 2.0
        coach.sim.set_chassis(moving=True, park_brake=False)
        for ws in sockets:
            moving = await receive_until(ws, lambda m: m["type"] == "safety" and m["vehicle_state"] == "moving")
            assert moving["interlocks"]["slides_awnings_allowed"] is False
    finally:
        for ws in sockets:
            await ws.close()
