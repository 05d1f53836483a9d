"""The simulated coach on a real python-can virtual bus, heard through a second handle like the server."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from coachiq.can.address_claim import ClaimState
from coachiq.can.interface import CanInterfaceService
from coachiq.core.events import EventBus
from coachiq.rvc import Codec
from coachiq.rvc.receive import RvcFrame
from coachiq.rvc.service import FRAME, RvcProtocolService
from coachiq.settings import CanInterfaceSettings
from coachiq.sim.coach import SimulatedCoach
from coachiq.sim.devices import CHASSIS_NODE, GENERATOR_NODE, LIGHTING_NODE, RELAY_NODE
from coachiq.sim.motion import MotorPair
from tests.conftest import wait_for
from tests.sim.conftest import Listener

GALLEY = 3  # light.galley_ceiling's dimmer instance
LIVING_SLIDE_EXTEND, LIVING_SLIDE_RETRACT = 40, 41


def dimmer(instance: int, **match: object) -> Callable[[Mapping[str, Any]], bool]:
    """Matches DC_DIMMER_STATUS_3 of one output with the given values."""
    return lambda v: v["instance"] == instance and all(v[k] == want for k, want in match.items())


async def test_dimmer_echoes_a_command_at_once(sim: SimulatedCoach, listener: Listener) -> None:
    sent = time.monotonic()
    listener.send("DC_DIMMER_COMMAND_2", {"instance": GALLEY, "group": 0xFF, "desired_level": 60.0,
                                          "command": "set_level", "duration": None})
    echo = await listener.wait_for("DC_DIMMER_STATUS_3", dimmer(GALLEY, load_status="on"))
    assert echo.at - sent < 0.1
    assert echo.source == LIGHTING_NODE
    assert echo.decoded.values["brightness"] == 60.0
    assert echo.decoded.values["last_command"] == "set_level"


async def test_dimmer_ramps_up_in_steps(real_time_sim: SimulatedCoach, listener: Listener) -> None:
    listener.send("DC_DIMMER_COMMAND_2", {"instance": GALLEY, "desired_level": 100.0, "command": "ramp_up"})
    echo = await listener.wait_for("DC_DIMMER_STATUS_3", dimmer(GALLEY, last_command="ramp_up"))
    assert echo.decoded.values["brightness"] < 100.0  # the echo comes before the ramp has gone anywhere
    # The dimmer's own ramp takes 2 s from 0 to 100 %, reported as it goes.
    top = await listener.wait_for("DC_DIMMER_STATUS_3", dimmer(GALLEY, brightness=100.0), timeout=3.0)
    assert 1.5 < top.at - echo.at < 2.6
    levels = [h.decoded.values["brightness"] for h in listener.heard
              if h.decoded.name == "DC_DIMMER_STATUS_3" and h.decoded.values["instance"] == GALLEY
              and h.at <= top.at]
    assert len({level for level in levels if 0 < level < 100}) >= 5, levels  # intermediate levels were reported
    assert levels == sorted(levels)


async def test_ramp_brightness_uses_the_ramp_time(real_time_sim: SimulatedCoach, listener: Listener) -> None:
    start = time.monotonic()
    # ramp_time 0.5 s for this change, whatever its size.
    listener.send("DC_DIMMER_COMMAND_2", {"instance": GALLEY, "desired_level": 50.0,
                                          "command": "ramp_brightness", "ramp_time": 0.5})
    done = await listener.wait_for("DC_DIMMER_STATUS_3", dimmer(GALLEY, brightness=50.0), timeout=3.0)
    assert 0.3 < done.at - start < 1.0
    listener.send("DC_DIMMER_COMMAND_2", {"instance": GALLEY, "command": "ramp_down"})
    await listener.wait_for("DC_DIMMER_STATUS_3", dimmer(GALLEY, last_command="ramp_down"))
    await listener.wait_for("DC_DIMMER_STATUS_3", lambda v: v["instance"] == GALLEY
                            and v["brightness"] is not None and v["brightness"] < 45)  # the ramp is under way
    listener.send("DC_DIMMER_COMMAND_2", {"instance": GALLEY, "command": "stop"})
    stopped = await listener.wait_for("DC_DIMMER_STATUS_3", dimmer(GALLEY, last_command="stop"))
    held = stopped.decoded.values["brightness"]
    assert isinstance(held, float)
    assert 0 < held < 50  # stop holds the level the ramp had reached
    await asyncio.sleep(0.3)  # proves a negative: for a while after the stop the level does not move
    level = real_time_sim.devices["light.galley_ceiling"].output.level  # type: ignore[attr-defined]
    assert round(level * 2) / 2 == held


async def test_generator_runs_only_after_its_start_delay(sim: SimulatedCoach, listener: Listener) -> None:
    sent = time.monotonic()
    listener.send("GENERATOR_COMMAND", {"command": "start"})
    echo = await listener.wait_for("GENERATOR_STATUS_1")
    assert echo.source == GENERATOR_NODE
    assert echo.decoded.values["status"] == "preheat"
    await listener.wait_for("GENERATOR_STATUS_1", lambda v: v["status"] == "cranking", timeout=2.0)
    running = await listener.wait_for("GENERATOR_STATUS_1", lambda v: v["status"] == "running", timeout=2.0)
    # 3 s start delay at ten times real speed: about 0.3 s, never at once.
    assert 0.2 < running.at - sent < 1.0
    # The transfer switch changes over to the generator (primary input) as it comes up, and says so at once.
    transfer = await listener.wait_for("ATS_AC_STATUS_1", lambda v: v["direction"] == "output"
                                       and v["source"] == "primary", timeout=0.5, since=sent)
    assert abs(transfer.at - running.at) < 0.25
    listener.send("GENERATOR_COMMAND", {"command": "stop"})
    await listener.wait_for("GENERATOR_STATUS_1", lambda v: v["status"] == "stopped", timeout=2.0)


async def test_slide_motor_drops_at_its_limit(sim: SimulatedCoach, listener: Listener) -> None:
    slide = sim.devices["slide.living_room"]
    assert isinstance(slide, MotorPair)
    sent = time.monotonic()
    listener.send("DC_DIMMER_COMMAND_2", {"instance": LIVING_SLIDE_EXTEND, "desired_level": 100.0,
                                          "command": "on_duration", "duration": 30})
    echo = await listener.wait_for("DC_DIMMER_STATUS_3", dimmer(LIVING_SLIDE_EXTEND, load_status="on"))
    assert echo.source == RELAY_NODE
    assert echo.decoded.values["duration"] == 30
    # 12 s of travel at ten times real speed: the limit switch drops the output after about 1.2 s.
    dropped = await listener.wait_for("DC_DIMMER_STATUS_3", dimmer(LIVING_SLIDE_EXTEND, load_status="off"),
                                      timeout=3.0)
    assert 1.0 < dropped.at - sent < 2.0
    assert slide.position == 100.0
    assert slide.moving is None


async def test_motor_pair_interlocks_and_stops(sim: SimulatedCoach, listener: Listener) -> None:
    slide = sim.devices["slide.living_room"]
    assert isinstance(slide, MotorPair)
    listener.send("DC_DIMMER_COMMAND_2", {"instance": LIVING_SLIDE_EXTEND, "desired_level": 100.0,
                                          "command": "on_duration", "duration": 30})
    await listener.wait_for("DC_DIMMER_STATUS_3", dimmer(LIVING_SLIDE_EXTEND, load_status="on"))
    await wait_for(lambda: slide.position >= 10)  # part of the way out
    listener.send("DC_DIMMER_COMMAND_2", {"instance": LIVING_SLIDE_RETRACT, "desired_level": 100.0,
                                          "command": "on_duration", "duration": 30})
    await listener.wait_for("DC_DIMMER_STATUS_3", dimmer(LIVING_SLIDE_RETRACT, load_status="on"))
    assert slide.moving == "retracting"
    assert not slide.extend.on  # never both sides at once
    listener.send("DC_DIMMER_COMMAND_2", {"instance": LIVING_SLIDE_RETRACT, "desired_level": 0.0,
                                          "command": "set_level"})
    await listener.wait_for("DC_DIMMER_STATUS_3", dimmer(LIVING_SLIDE_RETRACT, load_status="off"))
    position = slide.position
    assert 0 < position < 100
    await asyncio.sleep(0.3)  # proves a negative: a few scheduler ticks later the stopped slide has not moved
    assert slide.position == position


async def test_command_duration_stops_the_motor(sim: SimulatedCoach, listener: Listener) -> None:
    listener.send("DC_DIMMER_COMMAND_2", {"instance": LIVING_SLIDE_EXTEND, "desired_level": 100.0,
                                          "command": "on_duration", "duration": 2})
    await listener.wait_for("DC_DIMMER_STATUS_3", dimmer(LIVING_SLIDE_EXTEND, load_status="on"))
    await listener.wait_for("DC_DIMMER_STATUS_3", dimmer(LIVING_SLIDE_EXTEND, load_status="off"), timeout=1.5)
    position = sim.devices["slide.living_room"].position  # type: ignore[attr-defined]
    # 2 s of a 12 s travel is 17 %; one scheduler tick (1 s simulated at this speed) either way.
    assert 8 < position < 26


async def test_chassis_reports_parked_then_moving_then_parked(sim: SimulatedCoach, listener: Listener) -> None:
    parked = await listener.wait_for("CHASSIS_MOBILITY_STATUS")
    assert parked.source == CHASSIS_NODE
    assert parked.decoded.values["park_brake"] == "engaged"
    assert parked.decoded.values["vehicle_speed"] == 0
    assert parked.decoded.values["transmission_current_gear"] == "park"

    state = sim.set_chassis(moving=True)
    assert state.moving and not state.park_brake
    now = await listener.wait_for("CHASSIS_MOBILITY_STATUS", timeout=0.5)
    assert now.decoded.values["park_brake"] == "released"
    assert now.decoded.values["ignition_switch"] == "on"
    await listener.wait_for("CHASSIS_MOBILITY_STATUS", lambda v: v["vehicle_speed"] > 20, timeout=2.0)

    sim.set_chassis(moving=False, park_brake=True)
    stopped = await listener.wait_for("CHASSIS_MOBILITY_STATUS", lambda v: v["transmission_current_gear"] == "park",
                                      timeout=2.0)
    assert stopped.decoded.values["vehicle_speed"] == 0
    assert stopped.decoded.values["park_brake"] == "engaged"
    assert stopped.decoded.values["engine_speed"] == 0


async def test_nodes_broadcast_periodically(sim: SimulatedCoach, listener: Listener) -> None:
    expected = {"DC_DIMMER_STATUS_3", "THERMOSTAT_STATUS_1", "DC_SOURCE_STATUS_1", "GENERATOR_STATUS_1",
                "AWNING_STATUS", "DOOR_STATUS"}

    def heard_enough() -> bool:
        listener.drain()
        tanks = [h for h in listener.heard if h.decoded.name == "TANK_STATUS" and h.decoded.instance == 0]
        return len(tanks) >= 2 and expected <= {h.decoded.name for h in listener.heard}  # tanks: about once a second

    await wait_for(heard_enough, timeout=4)
    times = [h.at for h in listener.heard if h.decoded.name == "CHASSIS_MOBILITY_STATUS"]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert len(times) >= 5 and max(gaps) <= 0.5  # mobility status every 100-500 ms
    assert all(not h.decoded.errors for h in listener.heard)


async def test_commands_for_other_devices_are_ignored(sim: SimulatedCoach, listener: Listener) -> None:
    before = sim.commands_handled
    listener.send("DC_DIMMER_COMMAND_2", {"instance": 200, "desired_level": 100.0, "command": "set_level"})
    listener.send("DC_DIMMER_COMMAND_2", {"instance": GALLEY, "desired_level": 20.0, "command": "set_level"})
    await listener.wait_for("DC_DIMMER_STATUS_3", dimmer(GALLEY, brightness=20.0))
    assert sim.commands_handled == before + 1


async def test_stop_leaves_nothing_running(channel: str, codec: Codec) -> None:
    tasks = asyncio.all_tasks()
    coach = SimulatedCoach(channel, "travel_trailer", codec=codec)
    await coach.start()
    assert coach.running
    assert [thread for thread in threading.enumerate() if thread.name.startswith("sim-")]
    await wait_for(lambda: coach.frames_sent > 0)  # broadcasting: the scheduler is running
    await coach.stop()
    assert not coach.running
    assert asyncio.all_tasks() == tasks
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("sim-")]
    await coach.stop()  # twice is harmless


async def test_unknown_coach_is_refused(channel: str) -> None:
    with pytest.raises(ValueError, match="class_a_diesel"):
        SimulatedCoach(channel, "bus")


async def test_the_servers_rvc_service_hears_and_commands_the_coach(sim: SimulatedCoach, channel: str) -> None:
    can_service = CanInterfaceService([CanInterfaceSettings(name="house", interface="virtual", channel=channel)],
                                      rate_limit_s=0.0)
    events = EventBus()
    rvc = RvcProtocolService(can_service, events)
    frames: list[RvcFrame] = []
    events.subscribe(FRAME, frames.append)
    await can_service.start()
    await rvc.start()
    try:
        await wait_for(lambda: any(f.decoded.name == "TANK_STATUS" for f in frames), timeout=3)
        # The server's address claim must stand before it may send.
        await wait_for(lambda: can_service.link("house").claimer.state is ClaimState.CLAIMED, timeout=2)
        await rvc.send("DC_DIMMER_COMMAND_2", {"desired_level": 100.0, "command": "set_level"}, instance=GALLEY)
        echo = await wait_for(lambda: [f for f in frames if not f.own and f.decoded.name == "DC_DIMMER_STATUS_3"
                                       and f.decoded.instance == GALLEY and f.decoded.values["load_status"] == "on"],
                              timeout=2)
        assert echo[0].source_address == LIGHTING_NODE
        assert not [f for f in frames if f.decoded.errors]
    finally:
        await rvc.stop()
        await can_service.stop()
