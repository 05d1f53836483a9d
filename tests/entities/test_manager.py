"""The entity manager against the simulated coach on a private virtual bus: state, commands, persistence."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from coachiq.entities.model import EntityUpdate, InvalidBatch, InvalidCommand, Outcome, UnknownEntity
from coachiq.entities.topics import ENTITY_UPDATE, FRAME
from tests.entities.conftest import Coach, start_coach, stop_coach, stop_sim, wait_for


async def test_state_comes_from_the_bus(coach: Coach) -> None:
    entities = coach.core.entities
    await wait_for(lambda: entities.entities["tank.fresh"].state.available
                   and entities.entities["battery.house"].state.values.get("state_of_charge") is not None)
    tank = entities.get("tank.fresh")
    assert tank is not None
    assert 0 <= tank.state.values["level"] <= 100
    assert tank.state.values["capacity_l"] == 380
    assert tank.state.updated_at is not None
    chassis = entities.entities["chassis.main"].state.values
    assert chassis["park_brake"] is True and chassis["speed_kmh"] == 0
    json = tank.to_json()
    assert set(json) == {"id", "name", "type", "device", "position_critical", "area", "capabilities", "state",
                         "available", "updated_at"}
    assert json["type"] == "tank" and json["capabilities"] == []


async def test_select_filters(coach: Coach) -> None:
    entities = coach.core.entities
    assert len(entities.select(type="slide")) == 4
    assert {e.id for e in entities.select(area="galley", type="light")} == {"light.galley_ceiling",
                                                                           "light.galley_under_cabinet"}
    dimmable = entities.select(capability="set_brightness")
    assert "light.galley_ceiling" in {e.id for e in dimmable}
    assert "light.porch" not in {e.id for e in dimmable}


async def test_turn_on_is_confirmed_by_the_echo_and_published(coach: Coach) -> None:
    entities = coach.core.entities
    updates: list[EntityUpdate] = []
    coach.core.events.subscribe(ENTITY_UPDATE, updates.append)
    result = await entities.execute("light.galley_ceiling", "set_brightness", {"brightness": 40}, actor="test")
    assert result.outcome is Outcome.CONFIRMED, result
    assert result.state is not None and result.state["brightness"] == 40.0 and result.state["on"] is True
    assert any(u.entity_id == "light.galley_ceiling" and u.values.get("brightness") == 40.0
               and u.source is not None and u.source.source_address == 0x60 for u in updates)
    off = await entities.execute("light.galley_ceiling", "turn_off", {}, actor="test")
    assert off.outcome is Outcome.CONFIRMED and off.state is not None and off.state["on"] is False


async def test_a_command_whose_echo_repeats_the_last_status_is_still_confirmed(coach: Coach) -> None:
    # The light is already off: the echo's payload equals the last one and the receive filter drops it.
    entities = coach.core.entities
    await wait_for(lambda: entities.entities["light.porch"].state.values.get("on") is False)
    result = await entities.execute("light.porch", "turn_off", {}, actor="test")
    assert result.outcome is Outcome.CONFIRMED


@pytest.mark.parametrize(("entity_id", "command", "params", "expected"), [
    ("lock.entry_door", "unlock", {}, {"locked": False}),
    ("switch.block_heater", "turn_on", {}, {"on": True}),
    ("thermostat.front", "set_setpoint", {"heat": 19.5, "cool": 24.0}, {"heat_setpoint": 19.5, "cool_setpoint": 24.0}),
    ("thermostat.front", "set_mode", {"mode": "cool"}, {"mode": "cool"}),
    ("inverter.main", "disable", {}, {"enabled": False}),
    ("pump.fresh_water", "enable", {}, {"enabled": True}),
    ("water_heater.main", "set_mode", {"mode": "electric"}, {"mode": "electric"}),
    ("fan.bathroom", "turn_on", {}, {"on": True}),
    ("generator.main", "start", {}, {}),
])
async def test_commands_of_each_kind_are_confirmed(coach: Coach, entity_id: str, command: str,
                                                   params: dict[str, Any], expected: dict[str, Any]) -> None:
    result = await coach.core.entities.execute(entity_id, command, params, actor="test")
    assert result.outcome is Outcome.CONFIRMED, result
    assert result.state is not None
    for key, value in expected.items():
        assert result.state[key] == value


async def test_invalid_commands_raise_and_are_audited(coach: Coach) -> None:
    entities = coach.core.entities
    with pytest.raises(UnknownEntity):
        await entities.execute("light.nowhere", "turn_on", {}, actor="test")
    with pytest.raises(InvalidCommand) as bad_range:
        await entities.execute("light.galley_ceiling", "set_brightness", {"brightness": 140}, actor="test")
    assert bad_range.value.field == "brightness"
    with pytest.raises(InvalidCommand) as unsupported:
        await entities.execute("tank.fresh", "turn_on", {}, actor="test")
    assert unsupported.value.field == "command"
    with pytest.raises(InvalidCommand):
        await entities.execute("light.porch", "set_brightness", {"brightness": 50}, actor="test")
    with pytest.raises(InvalidCommand):
        await entities.execute("slide.galley", "extend", {"duration_s": 300}, actor="test")
    with pytest.raises(InvalidCommand):
        await entities.execute("thermostat.front", "set_setpoint", {"heat": 90}, actor="test")
    await entities.settle()
    audit = await coach.core.persistence.audit_entries(target="light.galley_ceiling")
    assert audit[0].result == "invalid" and "out of range" in audit[0].reason


async def test_a_silent_device_times_out_and_optimistic_state_is_not_reported(coach: Coach) -> None:
    entities = coach.core.entities
    await stop_sim(coach.sim)  # nobody answers any more
    result = await entities.execute("light.bedroom_ceiling", "turn_on", {}, actor="test")
    assert result.outcome is Outcome.TIMED_OUT and result.state is None
    assert entities.entities["light.bedroom_ceiling"].state.values.get("on") is not True
    await coach.sim.start()


async def test_execute_many_returns_each_result(coach: Coach) -> None:
    results = await coach.core.entities.execute_many(
        [("light.living_room_ceiling", "turn_on", {}), ("lock.entry_door", "lock", {})], actor="test")
    assert [getattr(r, "outcome", None) for r in results] == [Outcome.CONFIRMED, Outcome.CONFIRMED]


async def test_execute_many_validates_the_whole_batch_before_running_any(coach: Coach) -> None:
    sent = coach.core.can.link("house").stats.tx_frames
    with pytest.raises(InvalidBatch) as raised:
        await coach.core.entities.execute_many(
            [("light.living_room_ceiling", "turn_on", {}), ("light.nowhere", "turn_on", {})], actor="test")
    assert raised.value.index == 1 and isinstance(raised.value.error, UnknownEntity)
    with pytest.raises(InvalidBatch) as raised:
        await coach.core.entities.execute_many(
            [("light.living_room_ceiling", "turn_on", {}),
             ("light.galley_ceiling", "set_brightness", {"brightness": 10 ** 400})], actor="test")
    assert raised.value.field == "commands[1].brightness"
    assert coach.core.can.link("house").stats.tx_frames == sent


async def test_stale_entities_become_unavailable(tmp_path: Path) -> None:
    coach = await start_coach(tmp_path / "data")
    entities = coach.core.entities
    try:
        await wait_for(lambda: entities.entities["tank.fresh"].state.available)
        updates: list[EntityUpdate] = []
        coach.core.events.subscribe(ENTITY_UPDATE, updates.append)
        await stop_sim(coach.sim)
        # Tanks go stale after 5 s without a frame; checked directly with a clock 6 s ahead.
        gone = entities.check_stale(time.time() + 6)
        assert "tank.fresh" in gone and not entities.entities["tank.fresh"].state.available
        assert any(u.entity_id == "tank.fresh" and u.values == {"available": False} for u in updates)
        await coach.sim.start()
        await wait_for(lambda: entities.entities["tank.fresh"].state.available)
    finally:
        await stop_coach(coach)


async def test_state_is_restored_at_start_and_marked_stale(tmp_path: Path) -> None:
    coach = await start_coach(tmp_path / "data")
    result = await coach.core.entities.execute("light.galley_ceiling", "set_brightness", {"brightness": 70},
                                               actor="test")
    assert result.outcome is Outcome.CONFIRMED
    await stop_coach(coach)  # persistence flushes at stop

    from coachiq.composition import CoreServices
    from coachiq.core.metrics import Metrics
    from tests.entities.conftest import coach_settings, unique_channel

    core = CoreServices(coach_settings(tmp_path / "data", unique_channel()), Metrics())
    await core.start()
    try:
        light = core.entities.entities["light.galley_ceiling"]
        assert light.state.values["brightness"] == 70.0
        assert light.state.restored and not light.state.available
        assert light.to_json()["available"] is False
    finally:
        await core.stop()


async def test_history_has_ring_and_persisted_samples(coach: Coach) -> None:
    entities = coach.core.entities
    for level in (10, 20):
        await entities.execute("light.bedroom_reading_left", "set_brightness", {"brightness": level}, actor="t")
    history = await entities.history("light.bedroom_reading_left", None, 100)
    assert [s["values"]["brightness"] for s in history][-2:] == [10.0, 20.0]
    await coach.core.persistence.flush()
    persisted = await coach.core.persistence.history("light.bedroom_reading_left")
    assert len(persisted) == 1  # one per entity per history_resolution (60 s)
    with pytest.raises(UnknownEntity):
        await entities.history("light.nowhere", None, 10)


async def test_unmapped_traffic_is_listed_with_a_suggestion(tmp_path: Path) -> None:
    # The generic coach maps lights 1-8: the diesel coach's lights 9-12 and most devices stay unmapped.
    coach = await start_coach(tmp_path / "data", coach="class_a_diesel", mapping="generic")
    try:
        rows = await wait_for(lambda: [r for r in coach.core.entities.unmapped()
                                       if r["name"] == "DC_DIMMER_STATUS_3" and r["instance"] == 12])
        row = rows[0]
        assert row["source_address"] == 0x60 and row["count"] >= 1
        assert row["last_values"]["instance"] == 12
        assert row["suggested"]["device"] == "dimmer" and row["suggested"]["instance"] == 12
        mapped = {(r["name"], r["instance"]) for r in coach.core.entities.unmapped()}
        assert ("DC_DIMMER_STATUS_3", 3) not in mapped
    finally:
        await stop_coach(coach)


@pytest.mark.parametrize("name", ["class_a_diesel", "travel_trailer"])
async def test_every_device_of_the_simulated_coach_is_mapped_and_heard(tmp_path: Path, name: str) -> None:
    coach = await start_coach(tmp_path / "data", coach=name)
    try:
        entities = coach.core.entities
        await wait_for(lambda: all(e.state.available for e in entities.entities.values()), timeout=8)
        assert entities.unmapped() == []
        transfer = entities.entities["transfer_switch.main"].state.values
        assert transfer["shore_voltage"] is not None and "output_voltage" in transfer
    finally:
        await stop_coach(coach)


async def test_own_frames_and_other_sources_do_not_set_state(coach: Coach) -> None:
    from coachiq.can.ids import compose_id
    from coachiq.rvc.receive import RvcFrame

    entities = coach.core.entities
    light = entities.entities["light.living_room_accent"]
    await wait_for(lambda: light.state.available)
    codec = coach.core.rvc.codec
    assert codec is not None
    payload = codec.encode("DC_DIMMER_STATUS_3", {"instance": 2, "group": 255, "brightness": 77.0})
    decoded = codec.decode(0x1FEDA, payload)
    before = dict(light.state.values)
    # Our own transmission of a status DGN, and the same status from a node the mapping does not name.
    coach.core.events.publish(FRAME, RvcFrame(time.time(), compose_id(0x1FEDA, 0x8C), "house", 0x1FEDA,
                                                    0x8C, decoded, own=True))
    coach.core.events.publish(FRAME, RvcFrame(time.time(), compose_id(0x1FEDA, 0x70), "house", 0x1FEDA,
                                                    0x70, decoded, own=False))
    assert light.state.values == before
    stray = [r for r in entities.unmapped() if r["source_address"] == 0x70]
    assert stray and stray[0]["instance"] == 2 and stray[0]["last_values"]["brightness"] == 77.0


async def test_a_broken_coach_file_stops_start_up_with_file_and_line(tmp_path: Path) -> None:
    from coachiq.composition import CoreServices
    from coachiq.core.errors import CoreStartError
    from coachiq.core.metrics import Metrics
    from tests.entities.conftest import coach_settings, unique_channel

    broken = tmp_path / "mine.yaml"
    broken.write_text("entities:\n  - id: light.x\n    device: blender\n    instance: 1\n")
    core = CoreServices(coach_settings(tmp_path / "data", unique_channel(), coach_file=broken), Metrics())
    with pytest.raises(CoreStartError) as caught:
        await core.start()
    assert caught.value.service == "entities"
    assert f"{broken}:3: unknown device 'blender'" in str(caught.value)
    assert not core.group.started  # everything started before it was stopped again


async def test_a_queued_extend_is_refused_when_the_coach_starts_to_move_before_it_leaves(coach: Coach) -> None:
    coach.sim.set_chassis(moving=False, park_brake=True)
    await wait_for(lambda: coach.core.state.interlocks()["slides_awnings_allowed"])
    can = coach.core.can
    # Other callers' frames to the slide's retract output (41) ahead in the queue, at a higher priority:
    # "off", harmless, but at 100 frames/s to one output ~0.1 s of wait for the extend's first frame.
    ahead = [can.submit("house", 0x1FEDB, bytes([41, 0xFF, 0, 3, n, 0, 0xFF, 0xFF]), priority=0,
                        client=f"other-{n}") for n in range(10)]
    command = asyncio.create_task(coach.core.entities.execute("slide.living_room", "extend", {"duration_s": 5},
                                                              actor="test"))
    await asyncio.sleep(0)  # the command is planned, gated (parked: allowed) and its frames queued
    coach.sim.set_chassis(moving=True, park_brake=False)  # the driver drives off meanwhile
    result = await command
    await asyncio.gather(*ahead)
    assert result.outcome is Outcome.REFUSED, result
    assert "park brake" in result.reason or "moving" in result.reason
    assert coach.sim.devices["slide.living_room"].moving is None
