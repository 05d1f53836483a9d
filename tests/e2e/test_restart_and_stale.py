"""End to end: state survives a restart (marked stale until fresh data), devices that fall silent become
unavailable, and a broken mapping file stops start-up with a clear message."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

import httpx
import websockets

from tests.api_v2.conftest import serve_coach, wait_until
from tests.conftest import start_server
from tests.e2e.conftest import COACH_ENV, require_simulated_coach, wait_for

# Run 2 maps the bathroom ceiling light to an output nothing drives: it can only show what was stored.
REMAP = """\
entities:
  - {id: light.bathroom_ceiling, name: Bathroom ceiling, area: bathroom, device: dimmer, instance: 99,
     source_address: 0x60}
"""


def test_restart_restores_state_until_fresh_data(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = start_server(data, env=COACH_ENV)
    try:
        require_simulated_coach(first)
        for entity_id, body in (("light.bathroom_ceiling", {"command": "set_brightness", "brightness": 40}),
                                ("light.bathroom_vanity", {"command": "turn_on"})):
            answer = httpx.post(f"{first.base_url}/api/v2/entities/{entity_id}/commands", json=body, timeout=10)
            assert answer.status_code == 200, answer.text
    finally:
        assert first.stop() == 0
    user_file = tmp_path / "coach.yaml"
    user_file.write_text(REMAP)
    second = start_server(data, env={**COACH_ENV, "COACHIQ_COACH_FILE": str(user_file)})
    try:
        restored = httpx.get(second.base_url + "/api/v2/entities/light.bathroom_ceiling").json()
        assert restored["state"]["brightness"] == 40 and restored["available"] is False
        assert restored["updated_at"] is not None
        # The vanity's device is alive: its fresh status replaces the stored state (the new simulated
        # coach starts with every load off).
        fresh = wait_for(lambda: (e := httpx.get(second.base_url + "/api/v2/entities/light.bathroom_vanity")
                                  .json())["available"] and e)
        assert fresh["state"]["on"] is False
    finally:
        assert second.stop() == 0


async def test_a_silent_device_becomes_unavailable_and_chassis_silence_is_a_safe_state(tmp_path: Path) -> None:
    user_file = tmp_path / "coach.yaml"
    user_file.write_text("entities:\n  - {id: tank.fresh, name: Fresh water, area: utility, instance: 0, "
                         "source_address: 0x48, stale_s: 1}\n")
    async with serve_coach(tmp_path / "data", coach_file=user_file, chassis_stale_s=1.0) as coach:
        entities = coach.runtime.core.entities.entities
        await wait_until(lambda: entities["tank.fresh"].state.available)
        async with websockets.connect(coach.ws_url) as ws:
            await ws.send(json.dumps({"type": "subscribe", "entities": ["tank.fresh"]}))
            assert json.loads(await ws.recv())["type"] == "snapshot"
            await coach.sim.stop()
            async with asyncio.timeout(5):
                while True:
                    message = json.loads(await ws.recv())
                    if message["type"] == "update" and message["values"].get("available") is False:
                        break
        entity = (await coach.http.get("/api/v2/entities/tank.fresh")).json()
        assert entity["available"] is False
        # The chassis broadcasts more often than the tank, so its silence may count a little later.
        state = coach.runtime.core.state
        await wait_until(lambda: state.vehicle_state() == "unknown", timeout=3)
        safety = (await coach.http.get("/api/v2/safety")).json()
        assert safety["safe_state"] is True and safety["vehicle_state"] == "unknown"
        assert any("chassis" in reason for reason in safety["reasons"])


def test_a_broken_mapping_file_stops_start_up_with_a_clear_message(tmp_path: Path) -> None:
    user_file = tmp_path / "coach.yaml"
    user_file.write_text("entities:\n  - {id: light.porch, name: Porch, device: dimmer, instance: 900}\n")
    server = start_server(tmp_path / "data", env={**COACH_ENV, "COACHIQ_COACH_FILE": str(user_file)},
                          wait_ready=False)
    try:
        server.process.wait(30)
    finally:
        server.stop(signal.SIGKILL)
    assert server.process.returncode != 0
    assert "coach.yaml" in server.errors and "instance" in server.errors
    assert "Traceback" not in server.errors
