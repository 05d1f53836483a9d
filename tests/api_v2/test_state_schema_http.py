"""Every entity state and safety payload the running server produces matches its published model exactly.

The simulated Class A coach (with the chassis J1939 bus), Firefly coach and travel trailer are driven through
their devices' commands and the chassis' states; every entity as listed and read over HTTP, every state
built from the WebSocket's snapshot and updates, and every safety payload (HTTP and WebSocket) is held to
the models of the OpenAPI document in strict mode: no key missing, no key extra, no value of another type.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import websockets
from pydantic import TypeAdapter

from coachiq.api.v2.entity_models import EntityOut
from coachiq.api.v2.models import SafetyOut, UnmappedList
from coachiq.entities.states import STATE_MODELS, J1939ChassisState, Lamps, blank, device_types
from coachiq.entities.unmapped import row
from coachiq.features.j1939.chassis import ChassisState
from coachiq.features.j1939.dm1 import LAMPS, parse_dm1
from coachiq.state.blocked import GATED_TYPES
from tests.api_v2.conftest import Coach, serve_coach, wait_until

ENTITY = TypeAdapter(EntityOut)

# What to ask of each entity type so its state goes through the values an owner sees (params beside).
DRIVE: dict[str, list[dict[str, Any]]] = {
    "light": [{"command": "turn_on"}, {"command": "set_brightness", "brightness": 40}, {"command": "turn_off"}],
    "switch": [{"command": "turn_on"}, {"command": "turn_off"}],
    "lock": [{"command": "unlock"}, {"command": "lock"}],
    "thermostat": [{"command": "set_mode", "mode": "cool"}, {"command": "set_setpoint", "cool": 23.0},
                   {"command": "set_fan", "mode": "on"}, {"command": "turn_off"}],
    "furnace": [{"command": "turn_on"}, {"command": "turn_off"}],
    "water_heater": [{"command": "turn_on"}, {"command": "turn_off"}],
    "pump": [{"command": "enable"}, {"command": "disable"}],
    "fan": [{"command": "turn_on"}, {"command": "set_fan", "speed": 50}, {"command": "turn_off"}],
    "generator": [{"command": "start"}, {"command": "stop"}],
    "inverter": [{"command": "disable"}, {"command": "enable"}],
    "charger": [{"command": "disable"}, {"command": "enable"}],
    "slide": [{"command": "extend", "duration_s": 1}, {"command": "stop"}],
    "awning": [{"command": "extend", "duration_s": 1}, {"command": "stop"}],
    "shade": [{"command": "extend", "duration_s": 1}, {"command": "stop"}],
    "jack": [{"command": "auto_level"}, {"command": "stop"}, {"command": "retract_all"}],
}


def check_entity(entity: dict[str, Any]) -> None:
    """`entity` validates strictly against its model and says nothing the model does not."""
    model = ENTITY.validate_python(entity, strict=True)
    assert model.model_dump(mode="json") == entity, entity["id"]


def check_safety(payload: dict[str, Any]) -> None:
    """The safety payload validates strictly and says nothing the model does not."""
    model = SafetyOut.model_validate(payload, strict=True)
    assert model.model_dump(mode="json") == payload


class Follower:
    """A WebSocket client that keeps every entity's state from the snapshot and the updates, and checks
    the state after every update and every safety message."""

    def __init__(self) -> None:
        self.entities: dict[str, dict[str, Any]] = {}
        self.updates = 0
        self.safety_messages = 0
        self.checked: set[tuple[str, str]] = set()  # (type, device) of entities checked while available

    def take(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "snapshot":
            for entity in message["entities"]:
                check_entity(entity)
                self.entities[entity["id"]] = entity
            check_safety(message["safety"])
        elif kind == "update":
            entity = self.entities[message["entity_id"]]
            values = dict(message["values"])
            available = values.pop("available", None)
            unknown = set(values) - set(STATE_MODELS[entity["device"]].model_fields)
            assert not unknown, (entity["id"], unknown)
            entity["state"] = {**entity["state"], **values}
            if available is not None:
                entity["available"] = available
            entity["updated_at"] = message["timestamp"]
            check_entity(entity)
            self.updates += 1
            if entity["available"]:
                self.checked.add((entity["type"], entity["device"]))
        elif kind == "safety":
            check_safety({k: v for k, v in message.items() if k != "type"})
            self.safety_messages += 1
        elif kind == "error":
            raise AssertionError(message)


@contextlib.asynccontextmanager
async def following(coach: Coach) -> AsyncIterator[Follower]:
    """A Follower fed by a WebSocket client for the duration of the block."""
    follower = Follower()
    async with websockets.connect(coach.ws_url, max_size=2**22) as ws:
        await ws.send(json.dumps({"type": "subscribe", "all": True}))

        async def read() -> None:
            async for raw in ws:
                follower.take(json.loads(raw))

        reader = asyncio.create_task(read())
        await wait_until(lambda: bool(follower.entities) or reader.done())
        try:
            yield follower
        finally:
            if reader.done():
                reader.result()  # a state that broke its model fails the test here
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


async def check_http(http: httpx.AsyncClient) -> set[tuple[str, str]]:
    """Every entity of the list and of its own route, and the safety payload; the (type, device) checked."""
    listed = (await http.get("/api/v2/entities")).json()["entities"]
    for entity in listed:
        check_entity(entity)
        one = await http.get(f"/api/v2/entities/{entity['id']}")
        check_entity(one.json())
    check_safety((await http.get("/api/v2/safety")).json())
    unmapped = (await http.get("/api/v2/entities/unmapped")).json()
    assert UnmappedList.model_validate(unmapped, strict=True).model_dump(mode="json", exclude_unset=True) == unmapped
    return {(e["type"], e["device"]) for e in listed if e["available"]}


async def drive(coach: Coach) -> dict[str, int]:
    """Every command of DRIVE on every entity of its type, a few at a time (the client's transmit rate is
    limited: a command refused as busy is sent again); returns how many ended in each outcome."""
    listed = (await coach.http.get("/api/v2/entities")).json()["entities"]
    counts: dict[str, int] = {}
    for step in range(max(len(c) for c in DRIVE.values())):
        pending = [{"entity_id": e["id"], **DRIVE[e["type"]][step]} for e in listed
                   if e["type"] in DRIVE and step < len(DRIVE[e["type"]])
                   and DRIVE[e["type"]][step]["command"] in e["capabilities"]]
        deadline = asyncio.get_running_loop().time() + 30
        while pending:
            assert asyncio.get_running_loop().time() < deadline, pending
            batch, pending = pending[:8], pending[8:]
            answer = await coach.http.post("/api/v2/entities/commands", json={"commands": batch}, timeout=30)
            assert answer.status_code == 200, answer.text
            for wanted, result in zip(batch, answer.json()["results"], strict=True):
                if result["status"] == "busy":
                    pending.append(wanted)
                else:
                    counts[result["status"]] = counts.get(result["status"], 0) + 1
            if pending:
                await asyncio.sleep(0.2)  # the rate limit refills at 50 frames a second
    return counts


async def run_coach(coach: Coach) -> tuple[set[tuple[str, str]], set[str]]:
    """Drive a coach through unknown, parked, driving and parked again; return what was checked."""
    entities = coach.runtime.core.entities
    async with following(coach) as follower:
        check_safety((await coach.http.get("/api/v2/safety")).json())  # before the chassis is heard: unknown
        coach.sim.set_chassis(moving=False, park_brake=True)
        await wait_until(lambda: coach.runtime.core.state.vehicle_state() == "parked", timeout=10)
        await wait_until(lambda: all(e.state.available for e in entities.entities.values()), timeout=15)
        checked = await check_http(coach.http)
        outcomes = await drive(coach)
        assert outcomes.get("confirmed", 0) > sum(outcomes.values()) / 2, outcomes
        coach.sim.set_chassis(moving=True)
        await wait_until(lambda: coach.runtime.core.state.vehicle_state() == "moving", timeout=10)
        safety = (await coach.http.get("/api/v2/safety")).json()
        check_safety(safety)
        assert all(safety["motion_blocked"][t.value] for t in GATED_TYPES), safety
        checked |= await check_http(coach.http)
        coach.sim.set_chassis(moving=False, park_brake=True)
        await wait_until(lambda: coach.runtime.core.state.vehicle_state() == "parked", timeout=10)
        safety = (await coach.http.get("/api/v2/safety")).json()
        assert safety["motion_blocked"]["slide"] is None, safety
        checked |= await check_http(coach.http)
        await wait_until(lambda: follower.safety_messages >= 2)
        assert follower.updates > len(entities.entities)
        types = {e.type.value for e in entities.entities.values()}
        return checked | follower.checked, types


async def test_class_a_coach_with_its_chassis_bus(tmp_path: Path) -> None:
    async with serve_coach(tmp_path / "data", features=("j1939",), command_timeout=3.0) as coach:
        checked, types = await run_coach(coach)
        chassis = (await coach.http.get("/api/v2/entities/chassis.engine")).json()
        assert chassis["device"] == "j1939_chassis" and chassis["state"]["lamps"], chassis
        expected = {(e.type.value, e.config.device) for e in coach.runtime.core.entities.entities.values()}
    assert checked == expected
    assert types >= {"light", "switch", "lock", "tank", "battery", "thermostat", "furnace", "water_heater", "pump",
                     "fan", "generator", "inverter", "charger", "transfer_switch", "slide", "awning", "jack",
                     "shade", "chassis"}


async def test_firefly_coach(tmp_path: Path) -> None:
    async with serve_coach(tmp_path / "data", coach="firefly_coach", features=("firefly",),
                           command_timeout=3.0) as coach:
        checked, _ = await run_coach(coach)
        expected = {(e.type.value, e.config.device) for e in coach.runtime.core.entities.entities.values()}
    assert checked == expected
    assert ("shade", "motor_pair") in checked and ("awning", "motor_pair") in checked


def test_every_device_family_has_a_state_model_whose_blank_state_has_every_key() -> None:
    for device in device_types():
        model = STATE_MODELS[device]
        assert set(blank(device)) == set(model.model_fields)
    assert set(STATE_MODELS) == set(device_types())
    assert tuple(Lamps.model_fields) == LAMPS


def test_j1939_chassis_trouble_codes_match_the_model() -> None:
    # The simulated engine reports no code: an active one (amber lamp, SPN 177 FMI 0) is folded here.
    chassis = ChassisState()
    chassis.apply("CCVS1", {"wheel_based_speed": 0.0, "park_brake_switch": "set", "cruise_control_active": "off"}, 1.0)
    chassis.apply_dm1(0x03, parse_dm1(bytes.fromhex("04FFB1000001FFFF")), 1.0)
    state = {**blank("j1939_chassis"), **chassis.values}
    model = J1939ChassisState.model_validate(state, strict=True)
    assert model.model_dump(mode="json") == state and state["trouble_codes"]


def test_unmapped_rows_match_their_model() -> None:
    # A DGN a device family reads (with and without an instance) and one no family reads.
    rows = [row(0x1FFB7, "TANK_STATUS", 4, 0x48, 3, {"instance": 4, "relative_level": 2}),
            row(0x1FFDC, "GENERATOR_STATUS_1", None, 0x40, 1, {"status": "running"}),
            row(0x1FE80, None, None, 0x90, 7, {"raw": b"\x01\x02"})]
    document = {"unmapped": rows}
    model = UnmappedList.model_validate(document, strict=True)
    assert model.model_dump(mode="json", exclude_unset=True) == document
    assert rows[0]["suggested"]["instance"] == 4 and "instance" not in rows[1]["suggested"]
    assert rows[2]["suggested"] is None


async def test_travel_trailer(tmp_path: Path) -> None:
    async with serve_coach(tmp_path / "data", coach="travel_trailer", command_timeout=3.0) as coach:
        checked, _ = await run_coach(coach)
        expected = {(e.type.value, e.config.device) for e in coach.runtime.core.entities.entities.values()}
    assert checked == expected
