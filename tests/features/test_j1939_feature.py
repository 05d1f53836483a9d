"""The j1939 feature on a running core with the simulated coach: entity, vehicle source, disagreement,
DM1 by BAM, bad settings, and a crash that leaves the core running."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import can
import pytest
from fastapi import APIRouter

from coachiq.can.ids import compose_id
from coachiq.core.alerts import Priority
from coachiq.entities.topics import VEHICLE_CHANGED
from coachiq.features.base import FeatureContext
from coachiq.features.j1939 import J1939Feature, J1939Settings, load_database
from coachiq.rvc import Codec
from coachiq.rvc.transport import bam_frames
from coachiq.state.manager import VehicleState
from coachiq.state.vehicle_sources import ALERT_KEY
from tests.entities.conftest import Coach, start_coach, stop_coach, wait_for

CODEC = Codec(load_database())


def _no_routes(_router: APIRouter) -> Callable[[], None]:
    return lambda: None


@contextlib.asynccontextmanager
async def running(coach: Coach, **settings: Any) -> AsyncIterator[J1939Feature]:
    feature = J1939Feature()
    ctx = FeatureContext(coach.core, J1939Settings(**settings), _no_routes)
    await feature.start(ctx)
    try:
        yield feature
    finally:
        await feature.stop()
        ctx.release()


@pytest.fixture
async def j1939_coach(tmp_path: Path) -> AsyncIterator[Coach]:
    """The class A coach whose chassis also talks J1939 on the RV-C bus."""
    started = await start_coach(tmp_path / "data", j1939=True)
    try:
        yield started
    finally:
        await stop_coach(started)


async def test_the_chassis_entity_fills_from_the_simulated_engine(j1939_coach: Coach) -> None:
    async with running(j1939_coach) as feature:
        entity = j1939_coach.core.entities.entities["chassis.engine"]
        # Every key is there from the start (null): wait for the slow groups' values.
        await wait_for(lambda: entity.state.available and all(
            entity.state.values[key] is not None for key in ("battery_v", "fuel_level_pct", "engine_hours")))
        values = entity.state.values
        assert values["engine_rpm"] == 0 and values["speed_kmh"] == 0.0 and values["gear"] == "park"
        assert values["park_brake"] is True and values["engine_hours"] == pytest.approx(1234.5)
        assert values["fuel_level_pct"] == pytest.approx(62.0, abs=0.5) and values["trouble_codes"] == []
        view = j1939_coach.core.state.vehicle.resolve(entity.state.updated_at or 0)
        assert view.source == "j1939" and view.fresh == ("j1939", "rvc")
        assert feature.health().ok
        j1939_coach.sim.set_chassis(moving=True)
        await wait_for(lambda: (entity.state.values.get("speed_kmh") or 0) > 10, timeout=10)
        assert entity.state.values["gear"] == "forward_6" and entity.state.values["engine_rpm"] > 700
        assert j1939_coach.core.state.vehicle_state() == VehicleState.MOVING
    assert "chassis.engine" not in j1939_coach.core.entities.entities  # removed with the feature
    assert j1939_coach.core.state.vehicle.names == ["rvc"]


async def test_a_slide_is_refused_when_j1939_says_the_coach_rolls(tmp_path: Path) -> None:
    coach = await start_coach(tmp_path / "data")  # RV-C says parked; J1939 comes from the test's own node
    bus = can.Bus(interface="virtual", channel=coach.channel, receive_own_messages=False)
    stop = asyncio.Event()

    async def chassis_node() -> None:
        ccvs1 = CODEC.encode("CCVS1", {"park_brake_switch": "not_set", "wheel_based_speed": 12.5})
        can_id = compose_id(0xFEF1, 0x00, 6)
        while not stop.is_set():
            bus.send(can.Message(arbitration_id=can_id, data=ccvs1, is_extended_id=True))
            await asyncio.sleep(0.1)

    node = asyncio.create_task(chassis_node())
    try:
        async with running(coach):
            state = coach.core.state
            await wait_for(lambda: state.vehicle_state() == VehicleState.MOVING)
            result = await coach.core.entities.execute("slide.galley", "extend", {"duration_s": 2}, actor="test")
            assert result.outcome.value == "refused" and "moving" in result.reason
            alert = await wait_for(lambda: next((a for a in coach.alerts.active if a.key == ALERT_KEY), None),
                                   timeout=5)
            assert alert.priority is Priority.P2
            assert "j1939 reports 12.5 km/h" in alert.message and "rvc reports 0 km/h" in alert.message
            snapshot = state.snapshot()
            assert snapshot["interlocks"]["slides_awnings_allowed"] is False
            assert snapshot["interlocks"]["source"] == "j1939"
            stop.set()
            await node
            # J1939 goes quiet: after its 1 s freshness RV-C alone decides, and the alert clears.
            await wait_for(lambda: state.vehicle_state() == VehicleState.PARKED, timeout=5)
            await wait_for(lambda: all(a.key != ALERT_KEY for a in coach.alerts.active), timeout=5)
    finally:
        stop.set()
        await node
        bus.shutdown()
        await stop_coach(coach)


async def test_a_j1939_interlock_input_stops_a_moving_slide_before_the_frame_is_handed_over(
        tmp_path: Path) -> None:
    coach = await start_coach(tmp_path / "data")  # RV-C says parked; the test's frames are the J1939 chassis
    try:
        async with running(coach):
            entities, state = coach.core.entities, coach.core.state
            changes: list[str] = []
            coach.core.events.subscribe(VEHICLE_CHANGED, changes.append)

            def j1939(group: str, pgn: int, values: dict[str, Any]) -> list[str]:
                changes.clear()
                coach.core.can.inject("house", time.time(), compose_id(pgn, 0x00, 6), CODEC.encode(group, values))
                return list(changes)  # published before the frame's hand-over returned: no tick waited for

            assert j1939("CCVS1", 0xFEF1, {"wheel_based_speed": 0.0, "park_brake_switch": "set"}) \
                == [VehicleState.PARKED]
            assert j1939("ETC2", 0xF005, {"current_gear": "park", "selected_gear": "park"}) == [VehicleState.PARKED]
            assert j1939("EEC1", 0xF004, {"engine_speed": 0.0}) == [VehicleState.PARKED]
            assert j1939("EEC1", 0xF004, {"engine_speed": 0.0}) == []  # a repeat: not even decoded
            assert j1939("EEC1", 0xF004, {"engine_speed": 650.0}) == [VehicleState.PARKED]  # engine starts
            assert j1939("EEC1", 0xF004, {"engine_speed": 655.5}) == []  # no interlock input changed
            assert j1939("EEC1", 0xF004, {"engine_speed": 0.0}) == [VehicleState.PARKED]  # engine stops
            result = await entities.execute("slide.galley", "extend", {"duration_s": 20}, actor="test")
            assert result.outcome.value == "confirmed", result
            assert "slide.galley" in entities.motions
            # The chassis rolls (speed above 0, brake still set): the slide's motion ends at this frame.
            assert j1939("CCVS1", 0xFEF1, {"wheel_based_speed": 0.5, "park_brake_switch": "set"}) \
                == [VehicleState.MOVING]
            assert "slide.galley" not in entities.motions
            assert j1939("CCVS1", 0xFEF1, {"wheel_based_speed": 7.0, "park_brake_switch": "set"}) == []
            # Standing again, brake released while the RV-C chassis says set: the sources disagree (moving).
            assert j1939("CCVS1", 0xFEF1, {"wheel_based_speed": 0.0, "park_brake_switch": "not_set"}) \
                == [VehicleState.MOVING]
            assert j1939("CCVS1", 0xFEF1, {"wheel_based_speed": 0.0, "park_brake_switch": "set"}) \
                == [VehicleState.PARKED]
            assert j1939("ETC2", 0xF005, {"current_gear": "forward_1", "selected_gear": "forward_1"}) \
                == [VehicleState.MOVING]  # out of park: counts as moving
            assert state.vehicle_state() == VehicleState.MOVING
            slide = entities.entities["slide.galley"]
            await wait_for(lambda: slide.state.values.get("motion") == "stopped", timeout=3)
            await coach.core.motion.settle()
    finally:
        await stop_coach(coach)


async def test_dm1_with_several_codes_arrives_by_bam(j1939_coach: Coach) -> None:
    bus = can.Bus(interface="virtual", channel=j1939_coach.channel, receive_own_messages=False)
    try:
        async with running(j1939_coach):
            entity = j1939_coach.core.entities.entities["chassis.engine"]
            await wait_for(lambda: entity.state.values.get("trouble_codes") == [], timeout=5)
            # The transmission (0x03, heard sending ETC2) reports two codes: amber lamp on (byte 0 = 0x04);
            # SPN 0x00B1 = 177 FMI 0 count 1; SPN 0x0277 = 631 FMI 2 (0x02) count 4.
            payload = bytes.fromhex("04FF" "B1000001" "77020204")
            for frame in bam_frames(0xFECA, payload, 0x03):
                bus.send(can.Message(arbitration_id=frame.can_id, data=frame.data, is_extended_id=True))
                await asyncio.sleep(0.06)  # BAM packets are 50-200 ms apart
            await wait_for(lambda: len(entity.state.values.get("trouble_codes") or []) == 2, timeout=5)
            assert entity.state.values["trouble_codes"] == [
                {"source_address": 3, "spn": 177, "fmi": 0, "occurrences": 1},
                {"source_address": 3, "spn": 631, "fmi": 2, "occurrences": 4}]
            assert entity.state.values["lamps"]["amber_warning"] == "on"
            # The engine's own DM1 without codes (once a second) does not clear the transmission's.
            await asyncio.sleep(1.2)
            assert len(entity.state.values["trouble_codes"]) == 2
    finally:
        bus.shutdown()


async def test_an_interface_that_is_not_configured_is_a_clear_error(j1939_coach: Coach) -> None:
    feature = J1939Feature()
    ctx = FeatureContext(j1939_coach.core, J1939Settings(interface="chassis"), _no_routes)
    with pytest.raises(ValueError, match=r"j1939\.interface is 'chassis', but the CAN interfaces are house"):
        await feature.start(ctx)
    assert "chassis.engine" not in j1939_coach.core.entities.entities
    assert j1939_coach.core.state.vehicle.names == ["rvc"]


async def test_a_malformed_j1939_frame_is_counted_not_fatal(j1939_coach: Coach) -> None:
    bus = can.Bus(interface="virtual", channel=j1939_coach.channel, receive_own_messages=False)
    try:
        async with running(j1939_coach) as feature:
            bus.send(can.Message(arbitration_id=compose_id(0xFEF1, 0x21, 6), data=b"\x01\x02", is_extended_id=True))
            await wait_for(lambda: feature.errors >= 1)
            assert feature.health().ok
    finally:
        bus.shutdown()


async def test_a_crash_in_the_frame_handler_leaves_the_core_decoding(j1939_coach: Coach,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from coachiq.features.j1939.chassis import ChassisState

    def broken(self: ChassisState, group: str, decoded: Any, timestamp: float) -> bool:
        raise RuntimeError("a bug in the chassis fold")

    monkeypatch.setattr(ChassisState, "apply", broken)
    events = j1939_coach.core.events
    async with running(j1939_coach):
        await wait_for(lambda: events.handler_errors > 0)
        # The RV-C side carries on: the house devices still answer and update.
        result = await j1939_coach.core.entities.execute("light.cab_dome", "turn_on", {}, actor="test")
        assert result.outcome.value == "confirmed"
        assert j1939_coach.core.state.vehicle_state() == VehicleState.PARKED  # RV-C alone decides
