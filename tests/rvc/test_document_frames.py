"""Frames built by hand from the RV-C document's tables (revision 2023-11), decoded by the database.

None of these payloads appears in the database's own samples: each was written from the document's
signal table for that DGN (section in the id) and the data-type rules of its Table 5.3, with the
arithmetic beside it. They cover every family of the database, so a definition that drifts from the
document fails here even when its own samples were changed along with it.
"""

from __future__ import annotations

from typing import Any

import pytest

from coachiq.rvc.codec import Codec
from coachiq.rvc.spec_load import load_database

FRAMES: list[Any] = [
    # (document section, DGN name, payload, values)
    # DC source: house bank, BMS priority 120 = 0x78; 13.25 V / 0.05 = 265 = 0x0109; -12.5 A (charging):
    # 0x77359400 (0 A) - 12.5 / 0.001 = 0x77359400 - 0x30D4 = 0x7735632C
    ("6.5.2", "DC_SOURCE_STATUS_1", "01 78 09 01 2C 63 35 77",
     {"instance": 1, "device_priority": 120, "dc_voltage": 13.25, "dc_current": -12.5}),
    # grey tank 2 at 3/8; 94 L = 0x005E of 250 L = 0x00FA; byte 7 unused
    ("6.28.2", "TANK_STATUS", "02 03 08 5E 00 FA 00 FF",
     {"instance": 2, "relative_level": 3, "resolution": 8, "absolute_level": 94, "tank_size": 250}),
    # zone 1 cooling: byte 1 = 00 00 0001 (schedule off, fan auto, cool); fan speed 0 (automatic);
    # heat 20 degC: (20 + 273) x 32 = 9376 = 0x24A0; cool 24.5 degC: 297.5 x 32 = 9520 = 0x2530
    ("6.16.2", "THERMOSTAT_STATUS_1", "01 01 00 A0 24 30 25 FF",
     {"instance": 1, "operating_mode": "cool", "fan_mode": "auto", "schedule_mode": "disabled",
      "fan_speed": 0.0, "heat_setpoint": 20.0, "cool_setpoint": 24.5}),
    # generator running (3); 1234 min = 0x000004D2; load 45 % = 90 = 0x5A; 12.8 V / 0.05 = 256 = 0x0100
    ("6.18.23", "GENERATOR_STATUS_1", "03 D2 04 00 00 5A 00 01",
     {"status": "running", "engine_run_time": 1234, "engine_load": 45.0, "start_battery_voltage": 12.8}),
    # water heater 1 on gas and electric (3); set point 55 degC: 328 x 32 = 10496 = 0x2900; water
    # 48.5 degC: 321.5 x 32 = 10288 = 0x2830; byte 6 = 00 01 01 01 (limit ok, element on, burner lit,
    # set point not met); byte 7 = 0x00: no failure, AC and DC present, DC sufficient
    ("6.9.2", "WATERHEATER_STATUS", "01 03 00 29 30 28 15 00",
     {"instance": 1, "operating_mode": "gas_electric", "setpoint": 55.0, "water_temperature": 48.5,
      "thermostat_status": "setpoint_not_met", "burner_status": "lit", "ac_element_status": "active",
      "high_temperature_limit": "ok", "ignition_failure": "ok", "ac_power_failure": "present",
      "dc_power_failure": "present", "dc_power_warning": "sufficient"}),
    # Friday 2026-12-04 22:15:30 GMT: 26 = 0x1A (offset 2000), 12, 4, Friday = 6, 22 = 0x16, 15 = 0x0F,
    # 30 = 0x1E, time zone 0
    ("6.4.2", "DATE_TIME_STATUS", "1A 0C 04 06 16 0F 1E 00",
     {"year": 2026, "month": 12, "day": 4, "day_of_week": "friday", "hour": 22, "minute": 15, "second": 30,
      "time_zone": 0}),
    # charger 1 in bulk (2): 14.4 V = 288 = 0x0120; 30 A: 32000 + 30 / 0.05 = 32600 = 0x7F58; 60 % =
    # 120 = 0x78; byte 7 = 0000 01 01 (not forced, auto recharge on, enabled at power-up)
    ("6.20.8", "CHARGER_STATUS", "01 20 01 58 7F 78 02 05",
     {"instance": 1, "charge_voltage": 14.4, "charge_current": 30.0, "charge_current_percent": 60.0,
      "operating_state": "bulk", "enabled_at_power_up": "enabled", "auto_recharge": "enabled",
      "force_charge": "not_forced"}),
    # furnace 1: byte 1 = 000000 01 (combustion, manual); fan 50 % = 0x64; output 100 % = 0xC8; dead
    # band 1.5 degC / 0.1 = 15 = 0x0F, second stage 3.0 degC = 30 = 0x1E; byte 6 = 0x00 (all normal)
    ("6.15.2", "FURNACE_STATUS", "01 01 64 C8 0F 1E 00 FF",
     {"instance": 1, "operating_mode": "manual", "heat_source": "combustion", "circulation_fan_speed": 50.0,
      "heat_output_level": 100.0, "dead_band": 1.5, "second_stage_dead_band": 3.0, "zone_overcurrent": "ok",
      "zone_undercurrent": "ok", "zone_temperature": "normal", "zone_input": "inactive"}),
    # inverter 1 inverting (1); byte 2 = 01 01 00 01 (pass-through on, inverter on, load sense off,
    # battery temperature sensor present); byte 3 = 0xFC: generator support off
    ("6.19.8", "INVERTER_STATUS", "01 01 51 FC FF FF FF FF",
     {"instance": 1, "status": "inverting", "battery_temperature_sensor": "present",
      "load_sense_enabled": "disabled", "inverter_enabled": "enabled", "pass_through_enabled": "enabled",
      "generator_support_enabled": "disabled"}),
    # solar controller 1 floating (6): 14.2 V = 284 = 0x011C; 8.5 A: 32000 + 170 = 32170 = 0x7DAA; 25 % =
    # 50 = 0x32; byte 7 = 0000 00 01 (not forced, history kept, enabled at power-up)
    ("6.45.2", "SOLAR_CONTROLLER_STATUS", "01 1C 01 AA 7D 32 06 01",
     {"instance": 1, "charge_voltage": 14.2, "charge_current": 8.5, "charge_current_percent_of_max": 25.0,
      "operating_state": "float", "power_up_state": "enabled", "history_cleared": "not_cleared",
      "force_charge": "not_forced"}),
    # rolling off at idle: 650 rpm x 8 = 5200 = 0x1450; 0.5 km/h x 256 = 128 = 0x0080; byte 4 = 0xC0
    # (brake released, unlocked); byte 5 = 0xF5 (ignition, accessory on); in neutral 125 = 0x7D with
    # forward 1 = 126 = 0x7E selected
    ("6.11.2", "CHASSIS_MOBILITY_STATUS", "50 14 80 00 C0 F5 7D 7E",
     {"engine_speed": 650.0, "vehicle_speed": 0.5, "park_brake": "released", "transmission_lock": "unlocked",
      "engine_lock": "free_to_start", "ignition_switch": "on", "accessory_switch": "on",
      "transmission_current_gear": "neutral", "transmission_gear_selected": "forward_1"}),
    # tag axle (2), inside left (1): 0x21; 690 kPa = 0x02B2; 25 degC: 298 x 32 = 9536 = 0x2540; sensor
    # battery 2.96 V / 0.02 = 148 = 0x94; signal 100 % = 0xC8; byte 7 = 00 010 000: temperature high
    ("6.37.3", "TIRE_STATUS", "21 B2 02 40 25 94 C8 10",
     {"position": "inside_left", "axle": 2, "pressure": 690, "temperature": 25.0, "battery_voltage": 2.96,
      "signal_level": 100.0, "pressure_status": "ok", "temperature_status": "high", "battery_status": "ok"}),
    # retract awning 2 (byte 2 = 2) and release its user lock (byte 1 bits 0-1 = 00, the rest 1s: 0xFC)
    ("6.38.3", "AWNING_COMMAND", "02 FC 02 FF FF FF FF FF",
     {"instance": 2, "user_lock": "release", "mechanical_lock": None, "awning_light": None,
      "secondary_light": None, "direction": "retract", "target_position": None,
      "auto_retract_park_brake": None, "auto_retract_ignition": None, "awning_light_level": None,
      "secondary_light_level": None}),
    # dimmer 10 in group 1 (0x7E), 75 % = 150 = 0x96, 30 s of an "on delay" (2) left; byte 6 =
    # 00 11 01 00 (no undercurrent, reserved, load on, no interlock); memory 75 % = 0x96
    ("6.24.4", "DC_DIMMER_STATUS_3", "0A 7E 96 00 1E 02 34 96",
     {"instance": 10, "group": 0x7E, "brightness": 75.0, "lock_status": "unlocked", "overcurrent_status": "normal",
      "override_status": "inactive", "enable_status": "enabled", "duration": 30, "last_command": "on_delay",
      "interlock_status": "inactive", "load_status": "on", "undercurrent": "inactive", "memory_level": 75.0}),
    # shade 3 raising: duty 50 % = 0x64; byte 3 = 00 01 01 00 (reverse off, forward on, motor on,
    # unlocked); 7 s left; last command forward 0x81; byte 6 = 0x00
    ("6.39.2", "WINDOW_SHADE_CONTROL_STATUS", "03 FF 64 14 07 81 00 FF",
     {"instance": 3, "group": 255, "motor_duty": 50.0, "lock_status": "unlocked", "motor_status": "active",
      "forward_status": "active", "reverse_status": "inactive", "duration": 7, "last_command": "forward",
      "overcurrent_status": "normal", "override_status": "inactive", "disable_1_status": "inactive",
      "disable_2_status": "inactive"}),
    # generator output 1, line 1 (6.18.2: low nibble output instance 1, high nibble line 1): 0x11;
    # 120.5 V / 0.05 = 2410 = 0x096A; 12.25 A: 32000 + 245 = 32245 = 0x7DF5; 60 Hz x 128 = 7680 = 0x1E00;
    # byte 7 = 0x00: no fault
    ("6.18.3", "GENERATOR_AC_STATUS_1", "11 6A 09 F5 7D 00 1E 00",
     {"instance": 1, "line": "line_1", "rms_voltage": 120.5, "rms_current": 12.25, "frequency": 60.0,
      "open_ground_fault": "no_fault", "open_neutral_fault": "no_fault",
      "reverse_polarity_fault": "no_fault", "ground_current_fault": "no_fault"}),
    # refrigerator 2, freezer cavity: byte 0 = instance 2 (bits 0-5) + cavity 01b << 6 = 0x42; byte 1 = light
    # all off 00b, door open 01b << 2, bits 4-7 unused = 0xF4; -18 C: (-18 + 273) / 0.03125 = 8160 = 0x1FE0;
    # set point -20 C: 253 / 0.03125 = 8096 = 0x1FA0; byte 6 = AC source 0010b + mode on 0001b << 4 = 0x12;
    # compressor 75 % / 0.5 = 150 = 0x96
    ("6.52.2", "REFRIGERATOR_STATUS", "42 F4 E0 1F A0 1F 12 96",
     {"instance": 2, "cavity": "freezer", "light": "all_off", "door": "open", "temperature": -18.0,
      "setpoint": -20.0, "fuel_source": "ac", "mode": "on", "compressor_speed": 75.0}),
    # DM_RV: byte 0 = 01 00 01 01 (red lamp on, yellow off, active, on); DSA 0x54 = 84 (a slide room, the
    # document's example); SPN bytes from the document's example 01 03 C0: MSB 1, ISB 3, byte 4 =
    # 110 00000 (SPN low bits 6, FMI 0); byte 5 = 1 0000001 (reserved 1, count 1); no DSA extension;
    # byte 7 = 1111 1111 (reserved, bank not used)
    ("3.2.5.1", "DM_RV", "45 54 01 03 C0 81 FF FF",
     {"operating_state": "on", "activity": "active", "yellow_lamp": "off", "red_lamp": "on", "dsa": 84,
      "spn_msb": 1, "spn_isb": 3, "spn_lsb": 6, "fmi": "above_normal", "occurrence_count": 1,
      "dsa_extension": None, "bank_select": None}),
    # ACK (0) from a single-instance node (0xFF) to 0x42 about GENERAL_RESET 0x17F00 -> "00 7F 01";
    # byte 2 = 0xFF (no bank, reserved bits), byte 3 reserved
    ("3.2.4.4", "ACKNOWLEDGMENT", "00 FF FF FF 42 00 7F 01",
     {"control": "ack", "instance": None, "instance_bank": None, "address_acknowledged": 0x42,
      "acknowledged_dgn": 0x17F00}),
    # one hour up: 3600000 ms = 0x0036EE80; 258 = 0x0102 receive errors; no transmit error
    ("6.6.2", "COMMUNICATION_STATUS_1", "80 EE 36 00 02 01 00 00",
     {"timer": 3600000, "receive_errors": 258, "transmit_errors": 0}),
    # driver door locked (bits 0-1 of byte 1 = 01: 0xFD), closing (2), 25 % open = 50 = 0x32,
    # 12.0 V / 0.05 = 240 = 0x00F0
    ("6.40.2", "DOOR_STATUS", "01 FD 02 32 F0 00 FF FF",
     {"instance": 1, "lock_status": "locked", "motion": "closing", "position": 25.0, "voltage": 12.0}),
]


@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec(load_database())


def _frame(entry: Any) -> tuple[str, str, str, dict[str, Any]]:
    return tuple(entry.values) if hasattr(entry, "marks") else entry  # type: ignore[no-any-return]


def test_the_frames_cover_every_family_and_repeat_no_sample() -> None:
    db = load_database()
    families = set()
    for entry in FRAMES:
        _section, name, payload, _values = _frame(entry)
        spec = db.by_name(name)
        assert spec is not None, name
        families.add(spec.file)
        assert all(bytes.fromhex(payload) != sample.payload for sample in spec.samples), (
            f"{name}: a document frame must not repeat one of the database's own samples")
    assert {spec.file for spec in db} <= families


@pytest.mark.parametrize(("section", "name", "payload", "values"), FRAMES,
                         ids=[f"{_frame(e)[1]}-{_frame(e)[0]}" for e in FRAMES])
def test_document_frame_decodes_as_the_document_says(codec: Codec, section: str, name: str, payload: str,
                                                     values: dict[str, Any]) -> None:
    spec = codec.spec_for(name)
    assert spec.source == f"RV-C {section}" or spec.source is None, f"{name} cites {spec.source}"
    decoded = codec.decode(spec.dgn, bytes.fromhex(payload))
    assert decoded.errors == ()
    assert set(decoded.values) == set(values), f"{name}: fields differ from the document's table"
    for field, want in values.items():
        got = decoded.values[field]
        if isinstance(want, float):
            assert got == pytest.approx(want, abs=1e-9), f"{name}.{field}"
        else:
            assert got == want, f"{name}.{field}"
