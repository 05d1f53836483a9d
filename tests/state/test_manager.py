"""Safety against the simulated coach: interlocks, safe state, emergency stop, motion renewal and expiry."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from coachiq.can.ids import compose_id
from coachiq.composition import CoreServices
from coachiq.core.alerts import Priority
from coachiq.core.metrics import Metrics
from coachiq.entities.model import EntityType, Outcome
from coachiq.entities.topics import VEHICLE_CHANGED
from coachiq.sim.coach import SimulatedCoach
from coachiq.sim.devices import COACHES, DeviceKind
from coachiq.state.manager import VehicleState
from tests.entities.conftest import Coach, coach_settings, start_coach, stop_coach, stop_sim, unique_channel, wait_for

NO_CHASSIS = "class_a_diesel_without_chassis"
SHORT_STALE_S = 0.6  # chassis data older than this is stale (5 s by default); the chassis sends every 0.2 s


async def test_parked_coach_allows_a_slide_and_the_snapshot_says_why(coach: Coach) -> None:
    state = coach.core.state
    snapshot = state.snapshot()
    assert snapshot["vehicle_state"] == VehicleState.PARKED
    assert snapshot["safe_state"] is False and snapshot["reasons"] == []
    assert snapshot["interlocks"]["slides_awnings_allowed"] is True
    result = await coach.core.entities.execute("slide.living_room", "extend", {"duration_s": 2}, actor="test",
                                               client_id="c1")
    assert result.outcome is Outcome.CONFIRMED, result
    assert result.state is not None and result.state["motion"] == "extending"
    stop = await coach.core.entities.execute("slide.living_room", "stop", {}, actor="test")
    assert stop.outcome is Outcome.CONFIRMED and stop.state is not None and stop.state["motion"] == "stopped"


async def test_a_slide_is_refused_while_moving_and_the_refusal_is_audited(coach: Coach) -> None:
    coach.sim.set_chassis(moving=True)
    await wait_for(lambda: coach.core.state.vehicle_state() == VehicleState.MOVING)
    result = await coach.core.entities.execute("slide.galley", "extend", {"duration_s": 5}, actor="alice")
    assert result.outcome is Outcome.REFUSED and "moving" in result.reason
    assert coach.core.entities.entities["slide.galley"].state.values.get("motion") != "extending"
    await coach.core.entities.settle()
    audit = await coach.core.persistence.audit_entries(target="slide.galley")
    assert audit[0].actor == "alice" and audit[0].result == "refused" and "moving" in audit[0].reason
    # Lights are not interlocked.
    light = await coach.core.entities.execute("light.cab_dome", "turn_on", {}, actor="alice")
    assert light.outcome is Outcome.CONFIRMED


async def test_park_brake_and_engine_interlocks(coach: Coach) -> None:
    coach.sim.set_chassis(moving=False, park_brake=False)
    await wait_for(lambda: coach.core.state.chassis.get("park_brake") == "released")
    refused = await coach.core.entities.execute("awning.patio", "extend", {}, actor="test")
    assert refused.outcome is Outcome.REFUSED and "park brake" in refused.reason
    coach.sim.set_chassis(park_brake=True, ignition=True)
    coach.sim.chassis.engine_running = True
    await wait_for(lambda: (coach.core.state.chassis.get("engine_speed") or 0) > 0)
    jack = await coach.core.entities.execute("jack.leveling", "extend", {"jack": "left_front", "duration_s": 1},
                                             actor="test")
    assert jack.outcome is Outcome.REFUSED and "engine" in jack.reason
    stop = await coach.core.entities.execute("jack.leveling", "stop", {}, actor="test")
    assert stop.outcome is Outcome.CONFIRMED  # stop is never refused


@pytest.fixture
def chassis_unplugged(monkeypatch: pytest.MonkeyPatch) -> str:
    """A simulated coach like the Class A but without its chassis node: nothing sends mobility status."""
    devices = tuple(d for d in COACHES["class_a_diesel"] if d.kind is not DeviceKind.CHASSIS)
    monkeypatch.setitem(COACHES, NO_CHASSIS, devices)  # type: ignore[index]
    return NO_CHASSIS


async def test_a_coach_whose_chassis_never_broadcast_refuses_a_slide(tmp_path: Path, chassis_unplugged: str) -> None:
    channel = unique_channel()
    core = CoreServices(coach_settings(tmp_path / "data", channel), Metrics())
    await core.start()
    sim = SimulatedCoach(channel, chassis_unplugged, codec=core.rvc.codec)
    await sim.start()
    try:
        entities, state = core.entities, core.state
        # The slide's node is on the bus and answers: only the missing chassis can refuse the command.
        await wait_for(lambda: entities.entities["slide.bedroom"].state.available)
        assert state.vehicle_state() == VehicleState.UNKNOWN
        assert "no chassis data received" in state.reasons()
        result = await entities.execute("slide.bedroom", "extend", {"duration_s": 1}, actor="test")
        assert result.outcome is Outcome.REFUSED, result
        assert "chassis" in result.reason
        assert "slide.bedroom" not in entities.motions
        stop = await entities.execute("slide.bedroom", "stop", {}, actor="test")
        assert stop.outcome is Outcome.CONFIRMED  # the node is alive; stop is never refused
    finally:
        await stop_sim(sim)
        await core.stop()


async def test_a_slide_is_refused_once_the_chassis_falls_silent(tmp_path: Path, chassis_unplugged: str) -> None:
    coach = await start_coach(tmp_path / "data", chassis_stale_s=SHORT_STALE_S)
    try:
        entities, state = coach.core.entities, coach.core.state
        await wait_for(lambda: state.motion_refusal(EntityType.SLIDE) is None)  # parked: a slide may move
        # The chassis node goes quiet (unplugged, blown fuse) while every other node keeps running.
        await stop_sim(coach.sim)
        coach.sim = SimulatedCoach(coach.channel, chassis_unplugged, codec=coach.core.rvc.codec)
        await coach.sim.start()
        await wait_for(lambda: state.vehicle_state() == VehicleState.UNKNOWN, timeout=SHORT_STALE_S + 5)
        assert any("chassis data is stale" in r for r in state.reasons())
        await wait_for(lambda: entities.entities["slide.bedroom"].state.available)
        result = await entities.execute("slide.bedroom", "extend", {"duration_s": 1}, actor="test")
        assert result.outcome is Outcome.REFUSED, result
        assert "chassis" in result.reason
        assert entities.entities["slide.bedroom"].state.values.get("motion") != "extending"
        stop = await entities.execute("slide.bedroom", "stop", {}, actor="test")
        assert stop.outcome is Outcome.CONFIRMED
    finally:
        await stop_coach(coach)


async def test_motion_runs_out_unless_renewed(coach: Coach) -> None:
    entities = coach.core.entities
    slide = entities.entities["slide.bedroom"]
    first = await entities.execute("slide.bedroom", "extend", {"duration_s": 0.3}, actor="test", client_id="c")
    assert first.outcome is Outcome.CONFIRMED
    first_deadline = entities.motions["slide.bedroom"].deadline
    renewed = await entities.execute("slide.bedroom", "extend", {"duration_s": 1.0}, actor="test", client_id="c")
    assert renewed.outcome is Outcome.CONFIRMED
    assert entities.motions["slide.bedroom"].deadline > first_deadline + 0.5
    # Time passing is what is tested: the first duration runs out, plus a few supervisor rounds.
    await asyncio.sleep(first_deadline - time.monotonic() + 0.3)
    assert slide.state.values["motion"] == "extending"  # renewed: still moving past the first deadline
    await wait_for(lambda: slide.state.values["motion"] == "stopped", timeout=3)
    # The motor may report stopped a moment before the supervisor's round forgets the motion.
    await wait_for(lambda: "slide.bedroom" not in coach.core.entities.motions, timeout=3)
    await coach.core.motion.settle()
    await entities.settle()
    audit = await coach.core.persistence.audit_entries(target="slide.bedroom")
    assert any(a.actor == "safety" and a.action == "stop" and "ran out" in a.reason for a in audit)


async def test_losing_the_controlling_client_stops_the_motion(coach: Coach) -> None:
    entities = coach.core.entities
    result = await entities.execute("awning.patio", "extend", {"duration_s": 20}, actor="test", client_id="ws-7")
    assert result.outcome is Outcome.CONFIRMED
    assert coach.core.motion.client_gone("someone-else") == []
    assert coach.core.motion.client_gone("ws-7") == ["awning.patio"]
    await wait_for(lambda: entities.entities["awning.patio"].state.values["motion"] == "stopped", timeout=3)


async def test_emergency_stop_stops_motion_refuses_and_holds_until_cleared(coach: Coach) -> None:
    entities, state = coach.core.entities, coach.core.state
    moving = await entities.execute("slide.living_room", "extend", {"duration_s": 20}, actor="test")
    assert moving.outcome is Outcome.CONFIRMED
    results = await coach.core.motion.emergency_stop("bob")
    assert {r.entity_id for r in results} == set(entities.position_critical())
    assert entities.entities["slide.living_room"].state.values["motion"] == "stopped"
    snapshot = state.snapshot()
    assert snapshot["emergency_stop"] is True and snapshot["safe_state"] is True
    refused = await entities.execute("slide.living_room", "extend", {"duration_s": 2}, actor="test")
    assert refused.outcome is Outcome.REFUSED and "emergency stop" in refused.reason
    await coach.core.motion.clear_emergency_stop("bob")
    assert state.snapshot()["safe_state"] is False
    again = await entities.execute("slide.living_room", "retract", {"duration_s": 1}, actor="test")
    assert again.outcome is Outcome.CONFIRMED
    audit = await coach.core.persistence.audit_entries(target="safety")
    assert [a.action for a in audit[:2]] == ["clear_emergency_stop", "emergency_stop"]


async def test_emergency_stop_survives_a_restart(tmp_path: Path) -> None:
    coach = await start_coach(tmp_path / "data")
    await coach.core.motion.emergency_stop("test")
    await stop_coach(coach)
    coach = await start_coach(tmp_path / "data")
    try:
        assert coach.core.state.snapshot()["emergency_stop"] is True
    finally:
        await stop_coach(coach)


async def test_a_p1_alert_enters_safe_state_and_stops_motion(coach: Coach) -> None:
    entities = coach.core.entities
    result = await entities.execute("slide.galley", "extend", {"duration_s": 20}, actor="test")
    assert result.outcome is Outcome.CONFIRMED
    coach.alerts.raise_alert("test:p1", Priority.P1, "test", "database unreachable")
    await wait_for(lambda: entities.entities["slide.galley"].state.values["motion"] == "stopped", timeout=3)
    assert "P1 alert: database unreachable" in coach.core.state.snapshot()["reasons"]
    refused = await entities.execute("slide.galley", "extend", {"duration_s": 2}, actor="test")
    assert refused.outcome is Outcome.REFUSED and "P1" in refused.reason
    coach.alerts.clear("test:p1")
    assert coach.core.state.snapshot()["safe_state"] is False


async def test_can_interface_down_is_safe_state(coach: Coach) -> None:
    from coachiq.can.interface import LinkState

    link = coach.core.can.links["house"]
    assert link.bus is not None
    link.bus.shutdown()  # the adapter goes away under the reader: its next receive fails
    await wait_for(lambda: link.state is LinkState.DOWN, timeout=3)
    assert "CAN interface 'house' is down" in coach.core.state.reasons()
    refused = await coach.core.entities.execute("slide.galley", "extend", {}, actor="test")
    assert refused.outcome is Outcome.REFUSED and "CAN interface" in refused.reason


async def test_a_coach_that_starts_to_roll_stops_a_moving_slide(coach: Coach) -> None:
    entities = coach.core.entities
    result = await entities.execute("slide.bedroom_wardrobe", "extend", {"duration_s": 20}, actor="test")
    assert result.outcome is Outcome.CONFIRMED
    coach.sim.set_chassis(moving=True)
    slide = entities.entities["slide.bedroom_wardrobe"]
    await wait_for(lambda: slide.state.values["motion"] == "stopped", timeout=3)
    await coach.core.motion.settle()
    await entities.settle()
    audit = await coach.core.persistence.audit_entries(target="slide.bedroom_wardrobe")
    # Driving off releases the park brake first, then the speed rises: either interlock stops the slide.
    assert any(a.actor == "safety" and a.action == "stop" and ("moving" in a.reason or "park brake" in a.reason)
               for a in audit), audit


async def test_an_interlock_input_that_changes_reaches_the_supervisor_at_once(tmp_path: Path) -> None:
    # No simulated chassis: the test's frames are the only chassis frames, run through the receive path.
    core = CoreServices(coach_settings(tmp_path / "data", unique_channel()), Metrics())
    await core.start()
    try:
        changes: list[str] = []
        core.events.subscribe(VEHICLE_CHANGED, changes.append)
        can_id = compose_id(core.rvc.codec.spec_for("CHASSIS_MOBILITY_STATUS").dgn, 0x80, 6)

        def chassis(speed: float, rpm: float, brake: str = "engaged", gear: str = "park") -> list[str]:
            payload = core.rvc.codec.encode("CHASSIS_MOBILITY_STATUS", {
                "vehicle_speed": speed, "engine_speed": rpm, "park_brake": brake,
                "transmission_current_gear": gear})
            changes.clear()
            core.can.inject("house", time.time(), can_id, payload)
            return list(changes)  # what was published before inject returned: no tick waited for

        assert chassis(0, 0) == [VehicleState.PARKED]  # first heard
        assert chassis(0, 700) == [VehicleState.PARKED]  # the engine starts: jacks may no longer move
        assert chassis(0, 750.5) == []  # a running engine's speed changes: no interlock input changed
        assert chassis(0, 750.5, brake="released") == [VehicleState.PARKED]
        assert chassis(0, 800, brake="released", gear="forward_1") == [VehicleState.MOVING]
        assert chassis(4.5, 900, brake="released", gear="forward_1") == []  # moving still
        assert chassis(0, 650, brake="released", gear="neutral") == [VehicleState.PARKED]  # stopped
        assert chassis(0, 0, brake="released", gear="neutral") == [VehicleState.PARKED]  # the engine stops
    finally:
        await core.stop()
