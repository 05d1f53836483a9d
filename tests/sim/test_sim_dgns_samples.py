"""Every DGN the simulated coaches send or answer meets the hand-worked samples of the database.

The simulator encodes with the server's own DGN database, so a wrong definition passes every bus test.
These tests tie it to payloads worked out by hand from the RV-C document instead:
- every DGN a simulated device broadcasts or obeys has samples, including one with special values where
  the DGN has fields that can carry them, and they all decode to their hand-worked values;
- every command sample reaches the simulated device that obeys it without error;
- for the DGNs the entity layer depends on, what the entity layer plans and what the simulated devices
  report in a known state encode to payloads written here by hand (arithmetic in the comments).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from coachiq.entities.commands import plan
from coachiq.entities.mapping import load_coach
from coachiq.rvc.codec import Codec
from coachiq.rvc.spec_load import load_database
from coachiq.sim.chassis import CRUISE_KPH, Chassis
from coachiq.sim.coach import build_model
from coachiq.sim.devices import COACHES, DeviceKind, SimDevice, devices_for
from coachiq.sim.loads import AcLoad, DcLoad, Lock
from coachiq.sim.model import DeviceModel, World
from coachiq.sim.motion import Awning, MotorPair, Shade

DB = load_database()
CODEC = Codec(DB)
COACH = load_coach("class_a_diesel").entities


def _sim_dgns() -> tuple[dict[str, set[str]], dict[str, list[DeviceModel]]]:
    """DGN name -> coaches that send it; command DGN name -> the models that obey it."""
    sent: dict[str, set[str]] = {}
    answered: dict[str, list[DeviceModel]] = {}
    for coach in COACHES:
        for spec in devices_for(coach):
            model = build_model(spec)
            names = {name for name, _values in model.status()} | set(spec.status_dgns)
            for name in names:
                sent.setdefault(name, set()).add(coach)
            for name, _instance in model.instances:
                answered.setdefault(name, []).append(model)
    return sent, answered


SENT, ANSWERED = _sim_dgns()
SIM_DGNS = sorted(set(SENT) | set(ANSWERED))

# DGNs of other families whose sample with special values is being written by their owners: strict,
# so the marker must go as soon as the sample is there.
_SPECIAL_SAMPLE_PENDING: set[str] = set()


def _with_pending(names: list[str]) -> list[Any]:
    return [pytest.param(name, marks=pytest.mark.xfail(strict=True, reason="no sample with special values yet"))
            if name in _SPECIAL_SAMPLE_PENDING else name for name in names]


def test_the_simulator_uses_the_dgns_the_entity_layer_depends_on() -> None:
    # a guard on the collection itself: a refactoring of the simulator must not empty it
    assert {"DC_DIMMER_STATUS_3", "DC_DIMMER_COMMAND_2", "CHASSIS_MOBILITY_STATUS", "AWNING_STATUS",
            "AWNING_COMMAND", "WINDOW_SHADE_CONTROL_STATUS", "WINDOW_SHADE_CONTROL_COMMAND", "DOOR_STATUS",
            "DOOR_COMMAND", "AC_LOAD_STATUS", "AC_LOAD_COMMAND"} <= set(SIM_DGNS)
    assert len(SIM_DGNS) >= 30


@pytest.mark.parametrize("name", _with_pending(SIM_DGNS))
def test_every_simulator_dgn_has_hand_worked_samples_that_decode(name: str) -> None:
    spec = DB.by_name(name)
    assert spec is not None, f"the simulator uses {name}, which the database does not know"
    assert spec.samples, f"{name} has no hand-worked sample"
    can_be_special = [f.name for f in spec.fields if f.special]
    if can_be_special:
        assert any(any(s.values[f] is None for f in can_be_special) for s in spec.samples), (
            f"{name}: no sample shows a special value (null) of {can_be_special}")
    for sample in spec.samples:
        decoded = CODEC.decode(spec.dgn, sample.payload)
        assert decoded.errors == ()
        for field in spec.fields:
            want, got = sample.values[field.name], decoded.values[field.name]
            if isinstance(want, float) or isinstance(got, float):
                assert got == pytest.approx(want, abs=1e-9), f"{name}.{field.name}"
            elif field.type != "bytes":
                assert got == want, f"{name}.{field.name}"


@pytest.mark.parametrize("name", sorted(ANSWERED))
def test_every_command_sample_reaches_the_simulated_device(name: str) -> None:
    spec = DB.by_name(name)
    assert spec is not None and spec.kind == "command"
    for model in ANSWERED[name]:
        for sample in spec.samples:
            decoded = CODEC.decode(spec.dgn, sample.payload)
            assert isinstance(model.command(name, decoded.instance, decoded.values), bool)
            model.step(0.5, World())
            for status_name, values in model.status():
                CODEC.encode(status_name, values, check_limits=False)  # the device can still report


@pytest.mark.parametrize("name", sorted(SENT))
def test_what_the_simulator_sends_decodes_to_what_it_meant(name: str) -> None:
    for coach in SENT[name]:
        for spec in devices_for(coach):
            for status_name, values in build_model(spec).status():
                if status_name != name:
                    continue
                decoded = _decode(name, CODEC.encode(name, values, check_limits=False))
                for field, value in values.items():
                    got = decoded.values[field]
                    if isinstance(value, float):
                        assert got == pytest.approx(value, abs=0.06), f"{name}.{field}"
                    else:
                        assert got == value, f"{name}.{field}"


# --- known states, payloads worked out by hand from the document's tables -------------------------

def _device(entity_id: str) -> SimDevice:
    return next(d for d in devices_for("class_a_diesel") if d.entity_id == entity_id)


def _status(model: DeviceModel, name: str, index: int = 0) -> bytes:
    frames = [values for status_name, values in model.status() if status_name == name]
    return CODEC.encode(name, frames[index], check_limits=False)


def _planned(entity_id: str, command: str, params: Mapping[str, Any] | None = None) -> list[bytes]:
    steps = plan(COACH[entity_id], command, params or {}, {})
    payloads = []
    for frame in steps.transmissions:
        values = dict(frame.values)
        spec = DB.by_name(frame.dgn)
        assert spec is not None
        if frame.instance is not None and spec.instance_field:
            values[spec.instance_field] = frame.instance
        payloads.append(CODEC.encode(frame.dgn, values))
    return payloads


def _hex(text: str) -> bytes:
    return bytes.fromhex(text)


def _decode(name: str, payload: bytes) -> Any:
    spec = DB.by_name(name)
    assert spec is not None
    return CODEC.decode(spec.dgn, payload)


def test_chassis_parked_and_cruising() -> None:
    chassis = Chassis(_device("chassis.main"))
    # 6.11.2 parked: 0 rpm, 0 km/h; byte 4 = 11 00 00 01 = 0xC1 (park brake engaged); byte 5 =
    # 1111 00 00 = 0xF0 (ignition and accessory off); gear 251 = 0xFB park, twice
    assert _status(chassis, "CHASSIS_MOBILITY_STATUS") == _hex("00 00 00 00 C1 F0 FB FB")
    chassis.set_state(moving=True, park_brake=None)
    world = World()
    for _ in range(20):
        chassis.step(1.0, world)
    assert chassis.speed == CRUISE_KPH == 88.0
    # 700 + 18 x 88 = 2284 rpm x 8 = 18272 = 0x4760; 88 km/h x 256 = 22528 = 0x5800; byte 4 = 0xC0
    # (released); byte 5 = 0xF5 (ignition and accessory on); forward 6 = 125 + 6 = 131 = 0x83
    assert _status(chassis, "CHASSIS_MOBILITY_STATUS") == _hex("60 47 00 58 C0 F5 83 83")


def test_dimmer_command_and_its_echo() -> None:
    # 6.24.6: instance 3, group 0xFF, 35 % / 0.5 = 70 = 0x46, command 0 set level, duration, interlock,
    # ramp time and byte 7 not given: all 1s
    (payload,) = _planned("light.galley_ceiling", "set_brightness", {"brightness": 35})
    assert payload == _hex("03 FF 46 00 FF FF FF FF")
    light = DcLoad(_device("light.galley_ceiling"))
    light.command("DC_DIMMER_COMMAND_2", 3, _decode("DC_DIMMER_COMMAND_2", payload).values)
    # 6.24.4: brightness 0x46; byte 3 = 0x00 (unlocked, no overcurrent, no override, enabled); no
    # duration 0xFF; last command 0; byte 6 = 00 11 01 00 = 0x34 (undercurrent 0, reserved 11, load on,
    # interlock 0); master memory 100 % = 0xC8 (the light has not been switched off yet)
    assert _status(light, "DC_DIMMER_STATUS_3") == _hex("03 FF 46 00 FF 00 34 C8")


def test_slide_motor_pair_commands() -> None:
    off, run = _planned("slide.living_room", "extend", {"duration_s": 4.2})
    # retract output 41 = 0x29 off: level 0, set level; extend output 40 = 0x28 on for ceil(4.2) = 5 s:
    # 100 % = 0xC8, command 1 = on (duration)
    assert off == _hex("29 FF 00 00 FF FF FF FF")
    assert run == _hex("28 FF C8 01 05 FF FF FF")
    slide = MotorPair(_device("slide.living_room"))
    for payload in (off, run):
        decoded = _decode("DC_DIMMER_COMMAND_2", payload)
        slide.command("DC_DIMMER_COMMAND_2", decoded.instance, decoded.values)
    # extend output on, 5 s left: 0x05; last command 1; relay outputs start with memory 100 %
    assert _status(slide, "DC_DIMMER_STATUS_3", 0) == _hex("28 FF C8 00 05 01 34 C8")
    # retract output off: level 0, no duration running, last command 0, load off: byte 6 = 0x30
    assert _status(slide, "DC_DIMMER_STATUS_3", 1) == _hex("29 FF 00 00 FF 00 30 C8")


def test_awning_extend_and_status() -> None:
    # 6.38.3: byte 1 (locks and lights) left alone = 0xFF, byte 2 = 1 extend; the rest not given
    (payload,) = _planned("awning.patio", "extend")
    assert payload == _hex("01 FF 01 FF FF FF FF FF")
    awning = Awning(_device("awning.patio"))
    awning.command("AWNING_COMMAND", 1, _decode("AWNING_COMMAND", payload).values)
    awning.step(3.0, World())  # 3 s of a 15 s travel: 20 %
    # 6.38.2: motion 1; 20 % / 0.5 = 40 = 0x28; byte 3 = 00 00 00 01 (brake released, user lock off,
    # unlocked, travel lock not secured); byte 4 = 0x00 (no lockout); lights not reported: 0xFF
    assert _status(awning, "AWNING_STATUS") == _hex("01 01 28 01 00 FF FF FF")
    (stop,) = _planned("awning.patio", "stop")
    assert stop == _hex("01 FF 00 FF FF FF FF FF")


def test_shade_lower_and_status() -> None:
    # 6.39.3: extend = lower = reverse 0x41; duty 100 % = 0xC8; 3 s; interlock byte not given: 0xFF
    (payload,) = _planned("shade.windshield", "extend", {"duration_s": 3})
    assert payload == _hex("01 FF C8 41 03 FF FF FF")
    shade = Shade(_device("shade.windshield"))
    shade.command("WINDOW_SHADE_CONTROL_COMMAND", 1, _decode("WINDOW_SHADE_CONTROL_COMMAND", payload).values)
    shade.step(1.0, World())
    # 6.39.2: duty 0xC8; byte 3 = 01 00 01 00 = 0x44 (reverse on, forward off, motor on, unlocked);
    # 2 s left; last command 0x41; byte 6 = 0x00
    assert _status(shade, "WINDOW_SHADE_CONTROL_STATUS") == _hex("01 FF C8 44 02 41 00 FF")


def test_door_lock_and_status() -> None:
    # 6.40.3: lock = 01 in bits 0-1 of byte 1, the rest 1s: 0xFD; no door action given: 0xFF
    (payload,) = _planned("lock.entry_door", "unlock")
    assert payload == _hex("01 FC FF FF FF FF FF FF")
    lock = Lock(_device("lock.entry_door"))
    lock.command("DOOR_COMMAND", 1, _decode("DOOR_COMMAND", payload).values)
    # 6.40.2: unlocked 00 in bits 0-1 of byte 1: 0xFC; no motor, position or voltage: 0xFF
    assert _status(lock, "DOOR_STATUS") == _hex("01 FC FF FF FF FF FF FF")
    (payload,) = _planned("lock.entry_door", "lock")
    assert payload == _hex("01 FD FF FF FF FF FF FF")


def test_ac_load_on_and_status() -> None:
    # 6.22.4: instance 1, group 0xFF, 100 % = 0xC8, byte 3 (mode, interlock, priority) not given = 0xFF,
    # command 0 set level, duration 0xFF
    (payload,) = _planned("switch.block_heater", "turn_on")
    assert payload == _hex("01 FF C8 FF 00 FF FF FF")
    load = AcLoad(_device("switch.block_heater"))
    load.command("AC_LOAD_COMMAND", 1, _decode("AC_LOAD_COMMAND", payload).values)
    load.step(0.1, World())
    # 6.22.2: level 0xC8; byte 3 = 0000 00 01 (priority 0, not dimmable, manual); no delay 0xFF;
    # demand 8 A = 0x08; 8 A: (8 + 1600) / 0.05 = 32160 = 0x7DA0
    assert _status(load, "AC_LOAD_STATUS") == _hex("01 FF C8 01 FF 08 A0 7D")


def test_tank_water_heater_and_generator_at_rest() -> None:
    coach = devices_for("class_a_diesel")
    fresh = next(d for d in coach if d.kind is DeviceKind.TANK and d.instance == 0)
    # 6.28.2: fresh tank (0) starts 75 % full: 75 / 100 (resolution 0x64); 380 L x 0.75 = 285 L = 0x011D;
    # 380 L = 0x017C; byte 7 unused
    assert _status(build_model(fresh), "TANK_STATUS") == _hex("00 4B 64 1D 01 7C 01 FF")
    heater = build_model(_device("water_heater.main"))
    # 6.9.2: instance 1, off (0); set point 55 degC: 328 x 32 = 10496 = 0x2900; water at 20 degC: 293 x 32 =
    # 9376 = 0x24A0; byte 6 = 00 00 00 01 (set point not met, burner off, element off, limit ok); byte 7 =
    # 0x00 (no failure, AC and DC present, DC sufficient)
    assert _status(heater, "WATERHEATER_STATUS") == _hex("01 00 00 29 A0 24 01 00")
    generator = build_model(_device("generator.main"))
    # 6.18.23: stopped (0); 1234 min = 0x000004D2; no load; 12.7 V / 0.05 = 254 = 0x00FE
    assert _status(generator, "GENERATOR_STATUS_1") == _hex("00 D2 04 00 00 00 FE 00")
