"""The firefly feature on a real server (HTTP and WebSocket on loopback) with the simulated Firefly coach.

The simulated Firefly module blocks, and counts, an activation that arrives while the opposite load of
a pair is on or has just gone off: the interlock the public sources describe. Without the feature the
core's plain "opposite off, then on" trips it; with it, many raced commands from several clients never do.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import websockets

from coachiq.features.manager import load_feature_config
from coachiq.runtime import Runtime
from coachiq.settings import Settings
from coachiq.sim.coach import SimulatedCoach
from coachiq.sim.firefly import FireflyDimmer, FireflyPair
from tests.api_v2.conftest import wait_until
from tests.conftest import running_server

PAIRS = ("awning.patio", "shade.windshield", "shade.living_room")


def _features(tmp_path: Path, enabled: bool) -> Any:
    user = tmp_path / "features.yaml"
    user.write_text(f"features:\n  firefly: {{enabled: {str(enabled).lower()}, "
                    "settings: {ramp_finish_after_s: 0.6}}\n")
    return load_feature_config(user_file=user, environ={})


@contextlib.asynccontextmanager
async def _start(tmp_path: Path, enabled: bool) -> AsyncIterator[tuple[str, Runtime, SimulatedCoach]]:
    settings = Settings(data_dir=tmp_path / "data", coach="firefly_coach", flush_interval=0.2,
                        health_interval=0.5, feature_timeout=2, command_timeout=3.0)
    async with running_server(settings, _features(tmp_path, enabled)) as (base_url, runtime):
        sim = runtime.simulation
        assert sim is not None
        sim.set_chassis(moving=False, park_brake=True)
        await wait_until(lambda: runtime.core.state.vehicle_state() == "parked")
        await wait_until(lambda: all(runtime.core.entities.entities[p].state.available for p in PAIRS))
        yield base_url, runtime, sim


def _pair(sim: SimulatedCoach, entity_id: str) -> FireflyPair:
    model = sim.devices[entity_id]
    assert isinstance(model, FireflyPair)
    return model


async def _rest_client(base_url: str, seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    outcomes = []
    async with httpx.AsyncClient(base_url=base_url, timeout=15) as http:
        for _ in range(count):
            entity_id = rng.choice(PAIRS)
            command = rng.choice(("extend", "retract", "extend", "retract", "stop"))
            body: dict[str, Any] = {"command": command}
            if command != "stop":
                body["duration_s"] = 3
            answer = await http.post(f"/api/v2/entities/{entity_id}/commands", json=body)
            outcomes.append(str(answer.json().get("status", answer.status_code)))
    return outcomes


async def _ws_client(base_url: str, seed: int, count: int) -> list[str]:
    rng = random.Random(seed)
    ids = itertools.count(1)
    outcomes = []
    url = base_url.replace("http://", "ws://") + "/api/v2/ws"
    async with websockets.connect(url, origin=base_url) as ws:  # type: ignore[arg-type]
        pending = set()
        for _ in range(count):
            request_id = next(ids)
            command = rng.choice(("extend", "retract", "stop"))
            message: dict[str, Any] = {"type": "command", "id": request_id, "entity_id": rng.choice(PAIRS),
                                       "command": command}
            if command != "stop":
                message["duration_s"] = 3
            await ws.send(json.dumps(message))
            pending.add(request_id)
        while pending:
            async with asyncio.timeout(20):
                reply = json.loads(await ws.recv())
            if reply.get("type") == "command_result" and reply.get("id") in pending:
                pending.discard(reply["id"])
                outcomes.append(reply["status"])
    return outcomes


async def _race(base_url: str) -> list[str]:
    jobs = [_rest_client(base_url, seed, 6) for seed in range(4)] + \
        [_ws_client(base_url, 100 + seed, 8) for seed in range(3)]
    return [o for batch in await asyncio.gather(*jobs) for o in batch]


async def _change_direction(base_url: str) -> list[int]:
    """Extend the awning, then retract it at once (each answered before the next); the HTTP statuses."""
    statuses = []
    async with httpx.AsyncClient(base_url=base_url, timeout=15) as http:
        for command in ("extend", "retract"):
            answer = await http.post("/api/v2/entities/awning.patio/commands",
                                     json={"command": command, "duration_s": 3})
            statuses.append(answer.status_code)
    return statuses


async def test_without_the_feature_a_direction_change_trips_the_firefly_interlock(tmp_path: Path) -> None:
    # The control: the simulated module does catch a controller that does not give it time.
    async with _start(tmp_path, enabled=False) as (base_url, _runtime, sim):
        # The module refuses the retract, so no status confirms it: 504 after the command timeout.
        assert await _change_direction(base_url) == [200, 504]
        assert _pair(sim, "awning.patio").interlock_trips == 1


async def test_raced_commands_from_several_clients_never_trip_the_pair_interlock(tmp_path: Path) -> None:
    async with _start(tmp_path, enabled=True) as (base_url, runtime, sim):
        assert await _change_direction(base_url) == [200, 200]
        outcomes = await _race(base_url)
        assert len(outcomes) == 4 * 6 + 3 * 8
        # A command overtaken by a newer one for the same device is refused (REST 409) before its "on".
        assert set(outcomes) <= {"confirmed", "refused", "409", "timed_out"}, outcomes
        assert "confirmed" in outcomes
        async with httpx.AsyncClient(base_url=base_url, timeout=15) as http:
            for entity_id in PAIRS:
                answer = await http.post(f"/api/v2/entities/{entity_id}/commands", json={"command": "stop"})
                assert answer.json()["status"] == "confirmed", answer.text
        for entity_id in PAIRS:
            pair = _pair(sim, entity_id)
            assert pair.interlock_trips == 0, (entity_id, pair.commands)
            assert pair.both_on_seen == 0
            assert not pair.extend.on and not pair.retract.on
            # Every activation came after an off of the opposite load, at least the settle time before.
            for index, (at, instance, command) in enumerate(pair.commands):
                if command != "on_duration":
                    continue
                other = pair.retract.instance if instance == pair.extend.instance else pair.extend.instance
                before = [c for c in pair.commands[:index] if c[1] == other]
                assert before and before[-1][2] == "off_delay" and at - before[-1][0] >= 0.2
        assert runtime.features is not None and runtime.features.health()["firefly"]["status"] == "running"


async def test_a_brightness_ramp_is_finished_and_holds_its_level(tmp_path: Path) -> None:
    async with _start(tmp_path, enabled=True) as (base_url, _runtime, sim):
        light = sim.devices["light.living_room"]
        assert isinstance(light, FireflyDimmer)
        async with httpx.AsyncClient(base_url=base_url, timeout=15) as http:
            answer = await http.post("/api/v2/entities/light.living_room/commands",
                                     json={"command": "set_brightness", "brightness": 40})
            assert answer.json()["status"] == "confirmed", answer.text
            await wait_until(lambda: light.finished_ramps == 1 and light.output.level == 40.0, timeout=5)
            assert light.open_ramps == 0
            # A newer command before the finish replaces it: only the last ramp is finished.
            for level in (60, 20):
                answer = await http.post("/api/v2/entities/light.living_room/commands",
                                         json={"command": "set_brightness", "brightness": level})
                assert answer.json()["status"] == "confirmed"
            await wait_until(lambda: light.finished_ramps == 2 and light.output.level == 20.0, timeout=5)


async def test_rebroadcast_status_is_dropped_before_decoding(tmp_path: Path) -> None:
    async with _start(tmp_path, enabled=True) as (_base_url, runtime, sim):
        pipeline = runtime.core.rvc.receiver
        stats = next(iter(runtime.core.can.links.values())).stats
        decoded, repeats, sent = pipeline.dgn_counts.get(0x1FEDA, 0), stats.dropped_repeats, sim.frames_sent
        await wait_until(lambda: sim.frames_sent > sent + 30, timeout=10)
        # Nothing changed on the coach: the loads repeated themselves and none of it was decoded again.
        assert pipeline.dgn_counts.get(0x1FEDA, 0) == decoded
        assert stats.dropped_repeats > repeats + 20



