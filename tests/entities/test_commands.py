"""Command planning: validation and the frames and confirmations each command produces (no bus)."""

from __future__ import annotations

import pytest

from coachiq.entities.commands import matches, plan
from coachiq.entities.mapping import load_coach
from coachiq.entities.model import InvalidCommand

COACH = load_coach("class_a_diesel").entities


def test_set_brightness_sends_set_level_with_group_and_expects_the_level() -> None:
    steps = plan(COACH["light.galley_ceiling"], "set_brightness", {"brightness": 35}, {})
    (frame,) = steps.transmissions
    assert frame.dgn == "DC_DIMMER_COMMAND_2" and frame.instance == 3
    assert frame.values["command"] == "set_level" and frame.values["desired_level"] == 35.0
    assert frame.values["group"] == 0xFF
    assert matches(steps.expect, {"brightness": 35.0, "on": True})
    assert matches(steps.expect, {"brightness": 35.5, "on": True})  # the device's 0.5 % step
    assert not matches(steps.expect, {"brightness": 0.0, "on": False})


def test_extend_switches_the_other_output_off_first_and_is_bounded() -> None:
    slide = COACH["slide.living_room"]
    steps = plan(slide, "extend", {"duration_s": 4.2}, {})
    off, run = steps.transmissions
    assert (off.instance, off.values["desired_level"]) == (41, 0.0)
    assert (run.instance, run.values["command"], run.values["duration"]) == (40, "on_duration", 5)
    assert steps.duration_s == 4.2
    assert plan(slide, "retract", {}, {}).duration_s == slide.max_duration_s
    stop = plan(slide, "stop", {}, {})
    assert {t.instance for t in stop.transmissions} == {40, 41} and stop.duration_s is None


@pytest.mark.parametrize(("entity_id", "command", "params", "field"), [
    ("light.galley_ceiling", "set_brightness", {"brightness": -1}, "brightness"),
    ("light.galley_ceiling", "set_brightness", {"brightness": "bright"}, "brightness"),
    ("light.galley_ceiling", "set_brightness", {}, "brightness"),
    ("light.galley_ceiling", "turn_on", {"colour": "red"}, "colour"),
    ("light.galley_ceiling", "fly", {}, "command"),
    ("slide.galley", "extend", {"duration_s": 0}, "duration_s"),
    ("slide.galley", "extend", {"duration_s": 31}, "duration_s"),
    ("thermostat.front", "set_setpoint", {"heat": 26, "cool": 20}, "heat"),
    ("thermostat.front", "set_setpoint", {}, "heat"),
    ("thermostat.front", "set_mode", {"mode": "turbo"}, "mode"),
    ("water_heater.main", "set_setpoint", {"heat": 95}, "heat"),
    ("chassis.main", "turn_on", {}, "command"),
])
def test_invalid_commands_name_the_field(entity_id: str, command: str, params: dict[str, object],
                                         field: str) -> None:
    with pytest.raises(InvalidCommand) as caught:
        plan(COACH[entity_id], command, params, {})
    assert caught.value.field == field


def test_toggle_expects_the_opposite_of_the_known_state() -> None:
    assert plan(COACH["light.porch"], "toggle", {}, {"on": True}).expect == {"on": False}
    assert plan(COACH["light.porch"], "toggle", {}, {}).expect == {}


def test_generator_start_is_confirmed_by_the_start_sequence() -> None:
    steps = plan(COACH["generator.main"], "start", {}, {})
    assert matches(steps.expect, {"status": "cranking"}) and not matches(steps.expect, {"status": "stopped"})


def test_roof_fan_direction_and_dome_go_in_the_fan_command_alone() -> None:
    fan = COACH["fan.galley"]
    steps = plan(fan, "set_fan", {"direction": "air_in"}, {})
    (frame,) = steps.transmissions
    assert frame.dgn == "ROOF_FAN_COMMAND_1" and frame.values == {"air_direction": "air_in"}
    assert matches(steps.expect, {"air_direction": "air_in"})
    steps = plan(fan, "set_fan", {"dome": "half_open"}, {})
    assert steps.transmissions[0].values == {"dome_position": "half_open"}
    assert matches(steps.expect, {"dome": "half_open"})
    for bad in ({"dome": "ajar"}, {"direction": "sideways"}, {"dome": "open", "speed": 50}):
        with pytest.raises(InvalidCommand):
            plan(fan, "set_fan", bad, {})
