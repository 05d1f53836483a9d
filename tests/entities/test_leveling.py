"""The leveling system entity: reading the LEVELING_* statuses, planning commands, holding manual motion,
and the whole path on a simulated coach (safety gate, echo confirmation, repetition, stop on release)."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

import can
import pytest

from coachiq.entities.commands import Plan, Transmission, matches, plan
from coachiq.entities.leveling import JACKS, REPEAT_S, ManualHold, fold
from coachiq.entities.mapping import load_coach
from coachiq.entities.model import InvalidCommand, Outcome
from coachiq.rvc import Codec, dgn_and_source, load_database
from tests.entities.conftest import Coach, start_coach, stop_coach, wait_for

CONFIG = load_coach("class_a_diesel").entities["jack.leveling"]
_CODEC = Codec(load_database())


def decoded(hex_payload: str, name: str) -> dict[str, Any]:
    """Values of a payload written by hand, decoded as the server does."""
    return dict(_CODEC.decode(_CODEC.spec_for(name).dgn, bytes.fromhex(hex_payload)).values)


# --- reading ------------------------------------------------------------------------------------

def test_control_status_gives_mode_motion_per_jack_and_lockouts() -> None:
    # mode 8; byte 3 = 0x04: left rear extending; byte 7 = 0x04 = 00 00 01 00: ignition lockout
    values = decoded("08 C0 C0 04 00 FF FF 04", "LEVELING_CONTROL_STATUS")
    state = fold(CONFIG, "LEVELING_CONTROL_STATUS", None, values, {})
    assert state is not None
    assert state["mode"] == "automatic_hydraulic_leveling" and state["motion"] == "extending"
    assert state["jacks"]["left_rear"]["motion"] == "extending"
    assert state["jacks"]["left_front"]["motion"] == "stopped"
    assert state["lockouts"] == ["ignition"] and state["warnings"] == []


def test_an_automatic_cycle_between_two_movements_still_counts_as_motion() -> None:
    values = decoded("08 C0 C0 00 00 FF FF 00", "LEVELING_CONTROL_STATUS")
    assert fold(CONFIG, "LEVELING_CONTROL_STATUS", None, values, {})["motion"] == "extending"  # type: ignore[index]
    values = decoded("00 C0 C0 00 00 FF FF 00", "LEVELING_CONTROL_STATUS")
    assert fold(CONFIG, "LEVELING_CONTROL_STATUS", None, values, {})["motion"] == "stopped"  # type: ignore[index]


def test_jack_status_merges_with_the_motion_already_known() -> None:
    control = fold(CONFIG, "LEVELING_CONTROL_STATUS", None,
                   decoded("03 C0 C0 11 11 FF FF 00", "LEVELING_CONTROL_STATUS"), {})
    assert control is not None
    # byte 1 = 0x41 = 01 00 00 01: left rear and left front extended; byte 3 = 0x01: left rear on the ground
    jacks = fold(CONFIG, "LEVELING_JACK_STATUS", None, decoded("40 41 FF 01 FF FF FF FF", "LEVELING_JACK_STATUS"),
                 control)
    assert jacks is not None
    assert jacks["jacks"]["left_rear"] == {"motion": "retracting", "extended": True, "grounded": True}
    assert jacks["jacks"]["right_front"] == {"motion": "retracting", "extended": False, "grounded": False}
    assert jacks["stored"] is False and jacks["jack_count"] == 4


def test_sensor_gives_pitch_roll_and_the_sensor_own_level_judgement() -> None:
    # pitch 1.5 deg ("C0 64"), roll -0.75 deg ("A0 63"); byte 0 = 0x01: driver side below level
    sensor = fold(CONFIG, "LEVELING_SENSOR_STATUS", None,
                  decoded("01 C0 64 A0 63 00 64 FF", "LEVELING_SENSOR_STATUS"), {})
    assert sensor == {"pitch": 1.5, "roll": -0.75, "level": False}
    level = fold(CONFIG, "LEVELING_SENSOR_STATUS", None, decoded("00 00 64 00 64 00 64 FF", "LEVELING_SENSOR_STATUS"),
                 {})
    assert level == {"pitch": 0.0, "roll": 0.0, "level": True}
    unknown = fold(CONFIG, "LEVELING_SENSOR_STATUS", None,
                   decoded("FF FF FF FF FF FF FF FF", "LEVELING_SENSOR_STATUS"), {})
    assert unknown == {"pitch": None, "roll": None, "level": None}


# --- planning -----------------------------------------------------------------------------------

def encoded(steps: Plan) -> list[str]:
    return [_CODEC.encode(t.dgn, t.values).hex(" ").upper() for t in steps.transmissions]


def test_auto_level_and_retract_all_send_one_mode_frame() -> None:
    auto = plan(CONFIG, "auto_level", {}, {})
    assert encoded(auto) == ["08 FF FF FF FF FF FF FF"] and auto.duration_s is None
    assert matches(auto.expect, {"mode": "automatic_hydraulic_four_point"})
    store = plan(CONFIG, "retract_all", {}, {})
    assert encoded(store) == ["03 FF FF FF FF FF FF FF"] and matches(store.expect, {"mode": "store"})
    assert encoded(plan(CONFIG, "clear_error", {}, {})) == ["63 FF FF FF FF FF FF FF"]


def test_manual_per_jack_and_per_pair_frames_follow_the_test_profile() -> None:
    # Four point (71), "Left Front Raise": byte 2 bits 6-7 = 01
    left_front = plan(CONFIG, "extend", {"jack": "left_front", "duration_s": 2}, {})
    assert encoded(left_front) == ["47 00 40 00 F0 FF FF FF"]
    assert left_front.duration_s == 2 and left_front.repeat_s == REPEAT_S == 0.1
    # Bi-axis (72), "Rear Lower": byte 1 bits 0-1 = 01
    assert encoded(plan(CONFIG, "retract", {"pair": "rear"}, {})) == ["48 01 00 00 F0 FF FF FF"]
    # "Right Raise": byte 2 bits 2-3 = 01
    assert encoded(plan(CONFIG, "extend", {"pair": "right"}, {})) == ["48 00 04 00 F0 FF FF FF"]


def test_stop_is_inactive_in_manual_and_abort_otherwise() -> None:
    assert encoded(plan(CONFIG, "stop", {}, {"mode": "manual_hydraulic_four_point"})) == ["00 FF FF FF FF FF FF FF"]
    assert encoded(plan(CONFIG, "stop", {}, {"mode": "automatic_hydraulic_leveling"})) == ["0B FF FF FF FF FF FF FF"]
    assert encoded(plan(CONFIG, "stop", {}, {})) == ["0B FF FF FF FF FF FF FF"]


@pytest.mark.parametrize(("command", "params", "field"), [
    ("extend", {}, "jack"),
    ("extend", {"jack": "left_front", "pair": "front"}, "jack"),
    ("extend", {"jack": "tongue"}, "jack"),
    ("retract", {"pair": "middle"}, "pair"),
    ("extend", {"jack": "left_front", "duration_s": 120}, "duration_s"),
    ("auto_level", {"force": True}, "force"),
    ("set_mode", {"mode": "store"}, "command"),
])
def test_bad_commands_say_what_is_wrong(command: str, params: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidCommand) as caught:
        plan(CONFIG, command, params, {})
    assert caught.value.field == field


# --- holding ------------------------------------------------------------------------------------

async def test_manual_hold_repeats_every_100_ms_until_released() -> None:
    sent: list[float] = []
    held = {"jack.leveling": True}
    loop = asyncio.get_running_loop()

    async def send(entity_id: str, step: Transmission) -> None:
        sent.append(loop.time())

    hold = ManualHold(send, lambda entity_id: held[entity_id])
    steps = plan(CONFIG, "extend", {"jack": "left_rear"}, {})
    hold.hold("jack.leveling", steps)
    await asyncio.sleep(0.03)  # the caller's own first send, late: the next gap counts from it
    start = loop.time()
    hold.sent("jack.leveling")
    await wait_for(lambda: len(sent) >= 5, timeout=3)
    gaps = [b - a for a, b in zip([start, *sent], sent, strict=False)]
    assert all(gap >= 0.099 for gap in gaps), gaps  # never under the document's minimum gap
    held["jack.leveling"] = False
    await wait_for(lambda: not hold.holding("jack.leveling"), timeout=1)
    count = len(sent)
    hold.hold("jack.leveling", Plan(steps.transmissions))  # no repeat_s: nothing to repeat
    assert not hold.holding("jack.leveling") and len(sent) == count
    await hold.stop()


async def test_a_renewal_restarts_the_gap_and_a_failed_send_ends_the_hold() -> None:
    loop = asyncio.get_running_loop()
    sent: list[float] = []

    async def failing(entity_id: str, step: Transmission) -> None:
        sent.append(loop.time())
        raise OSError("bus off")

    hold = ManualHold(failing, lambda entity_id: True)
    hold.hold("jack.leveling", plan(CONFIG, "extend", {"jack": "left_rear"}, {}))
    await wait_for(lambda: not hold.holding("jack.leveling"), timeout=2)
    assert len(sent) == 1
    await hold.stop()


# --- on a simulated coach -----------------------------------------------------------------------

@pytest.fixture
async def coach(tmp_path: Path) -> Any:
    started = await start_coach(tmp_path)
    await wait_for(lambda: started.core.entities.entities["jack.leveling"].state.available
                   and started.core.state.vehicle_state() == "parked")
    yield started
    await stop_coach(started)


def leveling_state(coach: Coach) -> dict[str, Any]:
    return coach.core.entities.entities["jack.leveling"].state.values


async def test_auto_level_is_confirmed_and_levels_the_coach(coach: Coach) -> None:
    assert leveling_state(coach)["level"] is False and leveling_state(coach)["stored"] is True
    result = await coach.core.entities.execute("jack.leveling", "auto_level", {}, actor="test")
    assert result.outcome is Outcome.CONFIRMED, result.reason
    await wait_for(lambda: leveling_state(coach)["mode"] == "inactive" and leveling_state(coach)["level"], timeout=20)
    state = leveling_state(coach)
    assert abs(state["pitch"]) <= 0.25 and abs(state["roll"]) <= 0.25
    assert all(state["jacks"][j]["grounded"] for j in JACKS)
    stored = await coach.core.entities.execute("jack.leveling", "retract_all", {}, actor="test")
    assert stored.outcome is Outcome.CONFIRMED, stored.reason
    await wait_for(lambda: leveling_state(coach)["stored"] is True and leveling_state(coach)["mode"] == "inactive",
                   timeout=20)


async def test_manual_hold_moves_one_jack_and_release_stops_it(coach: Coach) -> None:
    entities = coach.core.entities
    bus = can.Bus(interface="virtual", channel=coach.channel, receive_own_messages=False)
    command_dgn = _CODEC.spec_for("LEVELING_CONTROL_COMMAND").dgn
    result = await entities.execute("jack.leveling", "extend", {"jack": "left_front", "duration_s": 1.5},
                                    actor="test", client_id="page")
    assert result.outcome is Outcome.CONFIRMED, result.reason
    assert leveling_state(coach)["jacks"]["left_front"]["motion"] == "extending"
    # The controller stops 250 ms after the last frame (12.5 mm at 50 mm/s): 40 mm of travel means the
    # server repeated the frame.
    controller = coach.sim.devices["jack.leveling"]
    await wait_for(lambda: controller.extension["left_front"] >= 40, timeout=3)  # type: ignore[attr-defined]
    assert controller.moving == {"left_front": "extending"}  # type: ignore[attr-defined]
    # Not renewed: the duration runs out, the supervisor sends stop, the controller reports it stopped.
    await wait_for(lambda: leveling_state(coach)["motion"] == "stopped", timeout=4)
    assert "jack.leveling" not in coach.core.entities.motions
    assert leveling_state(coach)["jacks"]["left_front"]["extended"] is True
    assert leveling_state(coach)["jacks"]["right_front"]["extended"] is False
    # On the bus: manual frames (mode 71) 100-250 ms apart for the 1.5 s, then mode 0 (inactive).
    sent: list[tuple[float, int]] = []
    while (message := bus.recv(timeout=0)) is not None:
        if dgn_and_source(message.arbitration_id)[0] == command_dgn:
            sent.append((message.timestamp, message.data[0]))
    bus.shutdown()
    manual = [at for at, mode in sent if mode == 71]
    gaps = [b - a for a, b in itertools.pairwise(manual)]
    assert len(manual) >= 12 and all(0.099 <= gap <= 0.25 for gap in gaps), gaps
    assert sent[-1][1] == 0 and sent[-1][0] > manual[-1]


async def test_client_gone_stops_a_held_jack(coach: Coach) -> None:
    entities = coach.core.entities
    await entities.execute("jack.leveling", "retract", {"pair": "front", "duration_s": 1}, actor="test",
                           client_id="phone")
    await entities.execute("jack.leveling", "extend", {"pair": "front", "duration_s": 10}, actor="test",
                           client_id="phone")
    assert leveling_state(coach)["jacks"]["left_front"]["motion"] == "extending"
    assert coach.core.motion.client_gone("phone") == ["jack.leveling"]
    await wait_for(lambda: leveling_state(coach)["motion"] == "stopped", timeout=3)


async def test_every_mode_is_refused_while_the_coach_may_move(coach: Coach) -> None:
    coach.sim.set_chassis(moving=True)
    await wait_for(lambda: coach.core.state.vehicle_state() == "moving")
    for command, params in (("auto_level", {}), ("retract_all", {}), ("clear_error", {}),
                            ("extend", {"jack": "left_rear"}), ("retract", {"pair": "left"})):
        result = await coach.core.entities.execute("jack.leveling", command, params, actor="test")
        assert result.outcome is Outcome.REFUSED, command
        assert "moving" in result.reason
    assert coach.sim.devices["jack.leveling"].mode == 0  # type: ignore[attr-defined]
    stop = await coach.core.entities.execute("jack.leveling", "stop", {}, actor="test")
    assert stop.outcome is Outcome.CONFIRMED  # stop (abort) is never refused


async def test_park_brake_released_during_auto_level_gets_a_stop_from_the_server(coach: Coach) -> None:
    entities = coach.core.entities
    result = await entities.execute("jack.leveling", "auto_level", {}, actor="test")
    assert result.outcome is Outcome.CONFIRMED, result.reason
    coach.sim.set_chassis(park_brake=False)
    await wait_for(lambda: leveling_state(coach)["motion"] == "stopped", timeout=5)
    await wait_for(lambda: leveling_state(coach)["lockouts"] == ["park_brake"], timeout=5)
    await entities.settle()
    await coach.core.motion.settle()

    async def safety_stop() -> bool:
        audit = await coach.core.persistence.audit_entries(target="jack.leveling")
        return any(e.actor == "safety" and e.action == "stop" and "park brake" in e.reason for e in audit)

    deadline = asyncio.get_running_loop().time() + 5
    while not await safety_stop():
        assert asyncio.get_running_loop().time() < deadline, "the supervisor sent no stop"
        await asyncio.sleep(0.05)


def test_a_mapping_may_name_the_level_sensor_instance(tmp_path: Path) -> None:
    from coachiq.entities.mapping import load_mapping_file

    path = tmp_path / "coach.yaml"
    path.write_text("coach: mine\nentities:\n"
                    "  - {id: jack.leveling, device: leveling, instance: 2, source_address: 0x51}\n")
    config = load_mapping_file(path).entities["jack.leveling"]
    assert config.status_instances == (None, 2)
    assert load_coach("class_a_diesel").entities["jack.leveling"].status_instances == (None,)


async def test_unknown_vehicle_state_refuses_every_mode(tmp_path: Path) -> None:
    coach = await start_coach(tmp_path, chassis_stale_s=1.0)
    try:
        await coach.sim.stop()  # the whole coach goes quiet: no chassis data
        await wait_for(lambda: coach.core.state.vehicle_state() == "unknown", timeout=5)
        for command, params in (("auto_level", {}), ("retract_all", {}), ("extend", {"pair": "rear"})):
            result = await coach.core.entities.execute("jack.leveling", command, params, actor="test")
            assert result.outcome is Outcome.REFUSED, command
            assert "chassis data" in result.reason
    finally:
        await stop_coach(coach)
