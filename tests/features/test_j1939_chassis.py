"""Folding decoded J1939 groups into the chassis state: display rounding, the unrounded vehicle-state
reading, the park brake, and DM1 codes kept per controller."""

from __future__ import annotations

from coachiq.features.j1939.chassis import ChassisState
from coachiq.features.j1939.dm1 import parse_dm1


def test_rpm_jitter_below_a_display_step_is_not_a_change() -> None:
    chassis = ChassisState()
    assert chassis.apply("EEC1", {"engine_speed": 1500.0}, 1.0) is True
    assert chassis.apply("EEC1", {"engine_speed": 1500.25}, 1.01) is False  # rounds to 1500 rpm
    assert chassis.values["engine_rpm"] == 1500
    assert chassis.reading_values()[3] == 1500.25  # the vehicle state keeps the exact value
    assert chassis.heard["EEC1"] == 1.01


def test_a_creeping_coach_reads_as_moving_though_the_display_rounds_to_zero() -> None:
    chassis = ChassisState()
    chassis.apply("CCVS1", {"wheel_based_speed": 0.0390625, "park_brake_switch": "not_set"}, 1.0)  # 10/256 km/h
    assert chassis.values["speed_kmh"] == 0.0
    speed, brake, _gear, _rpm = chassis.reading_values()
    assert speed == 0.0390625 and brake is False


def test_park_brake_not_available_is_none() -> None:
    chassis = ChassisState()
    chassis.apply("CCVS1", {"wheel_based_speed": 0.0, "park_brake_switch": None}, 1.0)
    assert chassis.values["park_brake"] is None and chassis.reading_values()[1] is None


def test_gear_labels_and_unknown_groups() -> None:
    chassis = ChassisState()
    assert chassis.apply("ETC2", {"current_gear": "park", "selected_gear": "forward_1"}, 1.0)
    assert chassis.values["gear"] == "park" and chassis.values["selected_gear"] == "forward_1"
    assert chassis.apply("NOT_A_GROUP", {"x": 1}, 2.0) is False


def test_dm1_codes_are_kept_per_controller_and_lamps_combine() -> None:
    chassis = ChassisState()
    # the transmission (0x03): amber lamp, SPN 177 FMI 0 once
    assert chassis.apply_dm1(0x03, parse_dm1(bytes.fromhex("04FFB1000001FFFF")), 1.0)
    # the engine (0x00): no codes, lamps off: does not clear the transmission's code
    chassis.apply_dm1(0x00, parse_dm1(bytes.fromhex("00FF00000000FFFF")), 1.1)
    assert chassis.values["trouble_codes"] == [{"source_address": 3, "spn": 177, "fmi": 0, "occurrences": 1}]
    assert chassis.values["lamps"] == {"protect": "off", "amber_warning": "on", "red_stop": "off",
                                       "malfunction": "off"}
    assert chassis.apply_dm1(0x00, parse_dm1(bytes.fromhex("00FF00000000FFFF")), 1.2) is False  # unchanged
    # the transmission's code clears
    assert chassis.apply_dm1(0x03, parse_dm1(bytes.fromhex("00FF00000000FFFF")), 2.0)
    assert chassis.values["trouble_codes"] == [] and chassis.values["lamps"]["amber_warning"] == "off"


def test_interlock_inputs_change_when_a_decision_could_and_not_within_one() -> None:
    chassis = ChassisState()
    assert chassis.interlock_inputs() == (None, None, None, None)  # nothing heard
    chassis.apply("CCVS1", {"wheel_based_speed": 0.0, "park_brake_switch": "set"}, 1.0)
    chassis.apply("ETC2", {"current_gear": "park"}, 1.0)
    chassis.apply("EEC1", {"engine_speed": 0.0}, 1.0)
    parked = chassis.interlock_inputs()
    assert parked == (False, True, True, False)
    chassis.apply("ETC2", {"current_gear": "neutral"}, 1.1)
    assert chassis.interlock_inputs() == parked  # park -> neutral: still standing
    chassis.apply("EEC1", {"engine_speed": 700.0}, 1.2)
    running = chassis.interlock_inputs()
    assert running == (False, True, True, True)
    chassis.apply("EEC1", {"engine_speed": 712.5}, 1.3)
    assert chassis.interlock_inputs() == running
    chassis.apply("CCVS1", {"wheel_based_speed": 0.00390625, "park_brake_switch": "set"}, 1.4)  # 1/256 km/h
    assert chassis.interlock_inputs() == (True, True, True, True)
    chassis.apply("ETC2", {"current_gear": "reverse_1"}, 1.5)
    assert chassis.interlock_inputs() == (True, True, False, True)
