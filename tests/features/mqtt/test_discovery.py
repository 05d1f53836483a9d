"""Discovery configs for every shipped coach, Home Assistant's payloads to entity commands, state payloads."""

from __future__ import annotations

import json
from typing import Any

import pytest

from coachiq.entities.commands import plan
from coachiq.entities.mapping import EntityConfig, load_coach, shipped_coaches
from coachiq.entities.model import EntityType
from coachiq.features.mqtt.commands import Rejected, generic_command, translate
from coachiq.features.mqtt.discovery import (
    SAFETY_ID,
    Discovery,
    Topics,
    is_position_critical,
    state_payload,
)
from tests.features.mqtt.ha_schema import problems, render

TOPICS = Topics("homeassistant", "coachiq", "abc123")

# The HA component each CoachIQ entity type becomes (its main control or reading).
EXPECTED_COMPONENT = {
    EntityType.LIGHT: "light", EntityType.SWITCH: "switch", EntityType.LOCK: "lock",
    EntityType.THERMOSTAT: "climate", EntityType.FURNACE: "climate", EntityType.WATER_HEATER: "water_heater",
    EntityType.FAN: "fan", EntityType.SLIDE: "cover", EntityType.AWNING: "cover", EntityType.SHADE: "cover",
    EntityType.JACK: "cover", EntityType.PUMP: "switch", EntityType.GENERATOR: "switch",
    EntityType.INVERTER: "switch", EntityType.TANK: "sensor", EntityType.BATTERY: "sensor",
    EntityType.CHARGER: "sensor", EntityType.TRANSFER_SWITCH: "sensor", EntityType.CHASSIS: "sensor",
}


def discovery(coach: str) -> tuple[Discovery, list[EntityConfig]]:
    mapping = load_coach(coach)
    return Discovery(TOPICS, mapping.coach, mapping.description, "1.2.3"), list(mapping.entities.values())


@pytest.mark.parametrize("coach", shipped_coaches())
def test_every_config_is_valid_for_home_assistant(coach: str) -> None:
    found, entities = discovery(coach)
    announcements = found.all(entities)
    for announcement in announcements:
        assert problems(announcement.component, announcement.config) == [], (announcement.object_id,
                                                                            announcement.config)
    unique_ids = [a.config["unique_id"] for a in announcements]
    assert len(unique_ids) == len(set(unique_ids))
    topics = [found.config_topic(a) for a in announcements]
    assert len(topics) == len(set(topics))
    assert all(t.startswith("homeassistant/") and t.endswith("/config") for t in topics)
    # One device for the whole coach.
    assert {json.dumps(a.config["device"], sort_keys=True) for a in announcements} == {
        json.dumps(found.device, sort_keys=True)}
    assert found.device["model"] and found.device["manufacturer"] == "CoachIQ" and found.device["sw_version"] == "1.2.3"
    for config in entities:
        components = {a.component for a in found.for_entity(config)}
        expected = "sensor" if config.device == "leveling" else EXPECTED_COMPONENT[config.type]
        assert expected in components, config.id


def test_unique_ids_do_not_depend_on_names_or_order() -> None:
    found, entities = discovery("class_a_diesel")
    renamed = [EntityConfig(**{**{k: getattr(c, k) for k in c.__dataclass_fields__}, "name": c.name + " X"})
               for c in reversed(entities)]
    before = {a.config["unique_id"] for a in found.all(entities)}
    after = {a.config["unique_id"] for a in found.all(renamed)}
    assert before == after
    assert "coachiq_abc123_light_galley_ceiling" in before


def test_coach_entities_safe_state_emergency_stop_and_faults() -> None:
    found, _ = discovery("class_a_diesel")
    coach = {a.object_id: a for a in found.for_coach()}
    assert coach["coach_emergency_stop"].component == "button"
    assert coach["coach_emergency_stop"].config["command_topic"] == "coachiq/abc123/safety/emergency_stop/set"
    assert coach["coach_safe_state"].component == "binary_sensor"
    assert coach["coach_faults"].config["device_class"] == "problem"
    assert coach["coach_safe_state"].config["state_topic"] == TOPICS.state(SAFETY_ID) == "coachiq/abc123/safety/state"


def test_sensors_carry_device_class_state_class_and_units() -> None:
    found, entities = discovery("class_a_diesel")
    by_id = {a.object_id: a.config for a in found.all(entities)}
    assert by_id["battery_house_voltage"]["device_class"] == "voltage"
    assert by_id["battery_house_voltage"]["unit_of_measurement"] == "V"
    assert by_id["battery_house_current"]["unit_of_measurement"] == "A"
    assert by_id["battery_house_state_of_charge"]["device_class"] == "battery"
    assert by_id["tank_fresh_level"]["unit_of_measurement"] == "%"
    assert by_id["tank_fresh_level"]["state_class"] == "measurement"
    assert by_id["generator_main_run_time_min"]["state_class"] == "total_increasing"
    assert by_id["chassis_main_speed_kmh"]["unit_of_measurement"] == "km/h"
    assert by_id["chassis_main_park_brake"]["value_template"].startswith("{{")
    assert by_id["transfer_switch_main_shore_power"]["device_class"] == "plug"
    assert by_id["generator_main_running"]["device_class"] == "running"
    assert by_id["awning_patio"]["device_class"] == "awning"


def config_of(entity_id: str) -> EntityConfig:
    return load_coach("class_a_diesel").entities[entity_id]


@pytest.mark.parametrize(("entity_id", "aspect", "payload", "expected"), [
    ("light.galley_ceiling", "", b'{"state": "ON"}', ("turn_on", {})),
    ("light.galley_ceiling", "", b'{"state": "ON", "brightness": 40}', ("set_brightness", {"brightness": 40})),
    ("light.galley_ceiling", "", b'{"state": "OFF"}', ("turn_off", {})),
    ("light.porch", "", b'{"state": "ON"}', ("turn_on", {})),
    ("switch.tank_heaters", "", b"ON", ("turn_on", {})),
    ("switch.block_heater", "", b"OFF", ("turn_off", {})),
    ("lock.entry_door", "", b"UNLOCK", ("unlock", {})),
    ("thermostat.front", "mode", b"heat_cool", ("set_mode", {"mode": "auto_heat_cool"})),
    ("thermostat.front", "mode", b"off", ("turn_off", {})),
    ("thermostat.front", "temperature_low", b"19.5", ("set_setpoint", {"heat": 19.5})),
    ("thermostat.front", "temperature_high", b"24", ("set_setpoint", {"cool": 24.0})),
    ("thermostat.front", "fan_mode", b"high", ("set_fan", {"speed": 100.0})),
    ("thermostat.front", "fan_mode", b"auto", ("set_fan", {"mode": "auto"})),
    ("furnace.main", "mode", b"heat", ("turn_on", {})),
    ("water_heater.main", "mode", b"gas", ("set_mode", {"mode": "combustion"})),
    ("water_heater.main", "temperature", b"55", ("set_setpoint", {"heat": 55.0})),
    ("fan.galley", "percentage", b"40", ("set_fan", {"speed": 40.0})),
    ("fan.galley", "preset_mode", b"auto", ("set_fan", {"mode": "auto"})),
    ("slide.galley", "", b"OPEN", ("extend", {})),
    ("awning.patio", "", b"CLOSE", ("retract", {})),
    ("shade.windshield", "", b"STOP", ("stop", {})),
    ("generator.main", "", b"ON", ("start", {})),
    ("inverter.main", "", b"OFF", ("disable", {})),
    ("pump.fresh_water", "", b"ON", ("turn_on", {})),
])
def test_home_assistant_payloads_become_valid_entity_commands(entity_id: str, aspect: str, payload: bytes,
                                                               expected: tuple[str, dict[str, Any]]) -> None:
    config = config_of(entity_id)
    command, params = translate(config, aspect, payload, {"mode": "heat"})
    assert (command, params) == expected
    plan(config, command, params, {})  # the entity manager accepts it


@pytest.mark.parametrize(("entity_id", "aspect", "payload", "reason"), [
    ("light.galley_ceiling", "", b"ON", "not valid JSON"),
    ("light.galley_ceiling", "", b'{"state": "ON", "brightness": 400}', "0..100"),
    ("light.galley_ceiling", "", b'{"state": "ON", "effect": "rainbow"}', "unsupported light field"),
    ("light.galley_ceiling", "", b"[1, 2]", "JSON object"),
    ("light.porch", "", b'{"state": "ON", "brightness": 10}', "not dimmable"),
    ("switch.tank_heaters", "", b"on please", "ON, OFF"),
    ("switch.tank_heaters", "", b"\xff\xfe", "UTF-8"),
    ("thermostat.front", "temperature_low", b"nan", "finite"),
    ("thermostat.front", "temperature_low", b"warm", "number"),
    ("thermostat.front", "swing_mode", b"on", "takes no commands"),
    ("tank.fresh", "", b"ON", "takes no commands"),
    ("slide.galley", "", b"open", "OPEN"),
])
def test_malformed_payloads_are_rejected(entity_id: str, aspect: str, payload: bytes, reason: str) -> None:
    with pytest.raises(Rejected, match=reason):
        translate(config_of(entity_id), aspect, payload, {})


def test_generic_command_topic() -> None:
    assert generic_command(b'{"command": "set_brightness", "params": {"brightness": 5}, "id": 7}') == (
        "set_brightness", {"brightness": 5}, 7)
    for bad, reason in [(b'{"command": 5}', "command name"), (b'{"command": "x", "params": []}', "params"),
                        (b'{"command": "x", "extra": 1}', "unknown key"), (b"{", "valid JSON"),
                        (b'{"command": "x", "id": [1]}', "`id`")]:
        with pytest.raises(Rejected, match=reason):
            generic_command(bad)


def test_position_critical_covers() -> None:
    assert is_position_critical(config_of("slide.galley"))
    assert is_position_critical(config_of("awning.patio"))
    assert is_position_critical(config_of("jack.leveling"))
    assert is_position_critical(config_of("shade.windshield"))  # it can block the driver's view
    assert not is_position_critical(config_of("shade.living_room"))
    assert not is_position_critical(config_of("light.porch"))


@pytest.mark.parametrize(("entity_id", "values", "key", "expected"), [
    ("thermostat.front", {"mode": "auto_heat_cool", "heat_setpoint": 19.0, "cool_setpoint": 24.0,
                          "ambient_temperature": 21.5, "fan_mode": "on", "fan_speed": 50.0},
     "mode_state_template", "heat_cool"),
    ("thermostat.front", {"mode": "cool", "heat_setpoint": 19.0, "cool_setpoint": 24.0},
     "temperature_state_template", "24.0"),
    ("thermostat.front", {"mode": "cool", "fan_mode": "on", "fan_speed": 50.0}, "fan_mode_state_template", "medium"),
    ("water_heater.main", {"mode": "gas_electric", "setpoint": 50.0}, "mode_state_template", "performance"),
    ("slide.galley", {"motion": "extending"}, "value_template", "opening"),
    ("awning.patio", {"motion": "stopped", "position": 40.0}, "position_template", "40.0"),
    ("lock.entry_door", {"locked": True}, "value_template", "LOCKED"),
    ("switch.tank_heaters", {"on": None}, "value_template", "None"),
    ("fan.galley", {"on": True, "fan_speed": 30.0, "fan_mode": "forced_on"}, "percentage_value_template", "30.0"),
])
def test_state_templates_render_what_home_assistant_expects(entity_id: str, values: dict[str, Any], key: str,
                                                            expected: str) -> None:
    config = config_of(entity_id)
    found, _ = discovery("class_a_diesel")
    main = found.for_entity(config)[0]
    payload = json.dumps(state_payload(config, values, True, 1.0)).encode()
    assert render(main.config[key], payload) == expected
    availability = main.config["availability"][1]
    assert render(availability["value_template"], payload) == "online"


def test_leveling_system_is_read_only_sensors() -> None:
    config = config_of("jack.leveling")
    found, _ = discovery("class_a_diesel")
    announced = {a.object_id: a for a in found.for_entity(config)}
    assert {a.component for a in announced.values()} == {"sensor", "binary_sensor"}  # nothing to command
    payload = json.dumps(state_payload(config, {"pitch": -1.2, "roll": 0.5, "mode": "store", "level": False,
                                                "stored": True}, True, 1.0)).encode()
    assert render(announced["jack_leveling_pitch"].config["value_template"], payload) == "-1.2"
    assert render(announced["jack_leveling_mode"].config["value_template"], payload) == "store"
    assert render(announced["jack_leveling_level"].config["value_template"], payload) == "OFF"
    assert render(announced["jack_leveling_stored"].config["value_template"], payload) == "ON"


def test_light_state_is_home_assistant_json_schema() -> None:
    config = config_of("light.galley_ceiling")
    payload = state_payload(config, {"on": True, "brightness": 40.0}, True, 5.0)
    assert payload["state"] == "ON" and payload["brightness"] == 40.0 and payload["color_mode"] == "brightness"
    assert payload["available"] is True and payload["timestamp"] == 5.0


def test_topics() -> None:
    assert TOPICS.state("light.galley_ceiling") == "coachiq/abc123/light/galley_ceiling/state"
    assert TOPICS.parse_command_topic("coachiq/abc123/light/galley_ceiling/set") == ("light.galley_ceiling", "set", "")
    assert TOPICS.parse_command_topic("coachiq/abc123/thermostat/front/set/mode") == ("thermostat.front", "set", "mode")
    assert TOPICS.parse_command_topic("coachiq/abc123/light/x/command") == ("light.x", "command", "")
    assert TOPICS.parse_command_topic("coachiq/other/light/x/set") is None
    assert TOPICS.parse_command_topic("coachiq/abc123/light/x/state") is None
