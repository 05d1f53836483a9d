"""What Home Assistant's MQTT integration accepts in a discovery config, per platform, for the tests.

Written from Home Assistant's MQTT integration pages (discovery, and the light (JSON schema), switch, lock,
climate, water_heater, fan, cover, sensor, binary_sensor and button platforms): the configuration
variables each documents, those it marks required, and the documented device classes, modes and units.
Only what the checks below need; an unknown key is reported, so a typo in a config cannot pass.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import jinja2

COMMON = {"availability", "availability_mode", "availability_template", "availability_topic", "device",
          "enabled_by_default", "encoding", "entity_category", "entity_picture", "icon", "json_attributes_template",
          "json_attributes_topic", "name", "default_entity_id", "origin", "payload_available",
          "payload_not_available", "qos", "unique_id"}
DEVICE_KEYS = {"configuration_url", "connections", "hw_version", "identifiers", "manufacturer", "model", "model_id",
               "name", "serial_number", "suggested_area", "sw_version", "via_device"}
ORIGIN_KEYS = {"name", "sw_version", "support_url"}

PLATFORMS: Mapping[str, tuple[set[str], set[str]]] = {  # platform: (required, optional)
    "light": ({"command_topic", "schema"}, {
        "brightness", "brightness_scale", "color_temp_kelvin", "effect", "effect_list", "flash", "flash_time_long",
        "flash_time_short", "max_kelvin", "min_kelvin", "max_mireds", "min_mireds", "optimistic", "retain",
        "state_topic", "supported_color_modes", "transition", "white_scale"}),
    "switch": ({"command_topic"}, {"command_template", "device_class", "optimistic", "payload_off", "payload_on",
                                   "retain", "state_off", "state_on", "state_topic", "value_template"}),
    "lock": ({"command_topic"}, {"code_format", "command_template", "optimistic", "payload_lock", "payload_open",
                                 "payload_reset", "payload_unlock", "retain", "state_jammed", "state_locked",
                                 "state_locking", "state_topic", "state_unlocked", "state_unlocking",
                                 "value_template"}),
    "climate": (set(), {
        "action_template", "action_topic", "current_humidity_template", "current_humidity_topic",
        "current_temperature_template", "current_temperature_topic", "fan_mode_command_template",
        "fan_mode_command_topic", "fan_mode_state_template", "fan_mode_state_topic", "fan_modes", "initial",
        "max_humidity", "max_temp", "min_humidity", "min_temp", "mode_command_template", "mode_command_topic",
        "mode_state_template", "mode_state_topic", "modes", "optimistic", "payload_off", "payload_on",
        "power_command_template", "power_command_topic", "precision", "preset_mode_command_template",
        "preset_mode_command_topic", "preset_mode_state_topic", "preset_mode_value_template", "preset_modes",
        "retain", "swing_mode_command_template", "swing_mode_command_topic", "swing_mode_state_template",
        "swing_mode_state_topic", "swing_modes", "temperature_command_template", "temperature_command_topic",
        "temperature_high_command_template", "temperature_high_command_topic", "temperature_high_state_template",
        "temperature_high_state_topic", "temperature_low_command_template", "temperature_low_command_topic",
        "temperature_low_state_template", "temperature_low_state_topic", "temperature_state_template",
        "temperature_state_topic", "temperature_unit", "temp_step", "value_template"}),
    "water_heater": (set(), {
        "current_temperature_template", "current_temperature_topic", "initial", "max_temp", "min_temp",
        "mode_command_template", "mode_command_topic", "mode_state_template", "mode_state_topic", "modes",
        "optimistic", "payload_off", "payload_on", "power_command_template", "power_command_topic", "precision",
        "retain", "temperature_command_template", "temperature_command_topic", "temperature_state_template",
        "temperature_state_topic", "temperature_unit", "value_template"}),
    "fan": ({"command_topic"}, {
        "command_template", "optimistic", "payload_off", "payload_on", "payload_reset_percentage",
        "payload_reset_preset_mode", "percentage_command_template", "percentage_command_topic",
        "percentage_state_topic", "percentage_value_template", "preset_mode_command_template",
        "preset_mode_command_topic", "preset_mode_state_topic", "preset_mode_value_template", "preset_modes",
        "retain", "speed_range_max", "speed_range_min", "state_topic", "state_value_template"}),
    "cover": (set(), {
        "command_topic", "device_class", "optimistic", "payload_close", "payload_open", "payload_stop",
        "position_closed", "position_open", "position_template", "position_topic", "retain",
        "set_position_template", "set_position_topic", "state_closed", "state_closing", "state_open",
        "state_opening", "state_stopped", "state_topic", "value_template"}),
    "sensor": ({"state_topic"}, {"device_class", "expire_after", "force_update", "last_reset_value_template",
                                 "options", "state_class", "suggested_display_precision", "unit_of_measurement",
                                 "value_template"}),
    "binary_sensor": ({"state_topic"}, {"device_class", "expire_after", "force_update", "off_delay", "payload_off",
                                        "payload_on", "value_template"}),
    "button": ({"command_topic"}, {"command_template", "device_class", "payload_press", "retain"}),
}

SENSOR_UNITS = {"voltage": {"V", "mV", "kV"}, "current": {"A", "mA"}, "battery": {"%"},
                "temperature": {"°C", "°F", "K"}, "duration": {"d", "h", "min", "s", "ms"},
                "speed": {"km/h", "m/s", "mph", "kn"}, "frequency": {"Hz", "kHz", "MHz", "GHz"},
                "volume_storage": {"L", "mL", "gal", "m³"}}
STATE_CLASSES = {"measurement", "total", "total_increasing"}
BINARY_CLASSES = {"battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door", "garage_door",
                  "gas", "heat", "light", "lock", "moisture", "motion", "moving", "occupancy", "opening", "plug",
                  "power", "presence", "problem", "running", "safety", "smoke", "sound", "tamper", "update",
                  "vibration", "window"}
COVER_CLASSES = {"awning", "blind", "curtain", "damper", "door", "garage", "gate", "shade", "shutter", "window"}
CLIMATE_MODES = {"auto", "off", "cool", "heat", "dry", "fan_only", "heat_cool"}
WATER_HEATER_MODES = {"off", "eco", "electric", "gas", "heat_pump", "high_demand", "performance"}
COLOR_MODES = {"onoff", "brightness", "color_temp", "hs", "xy", "rgb", "rgbw", "rgbww", "white"}


def problems(component: str, config: Mapping[str, Any]) -> list[str]:
    """Everything Home Assistant would refuse or ignore in this config (empty: valid)."""
    found: list[str] = []
    if component not in PLATFORMS:
        return [f"unknown platform {component}"]
    required, optional = PLATFORMS[component]
    found += [f"missing required {key}" for key in sorted(required - set(config))]
    found += [f"unknown key {key}" for key in sorted(set(config) - required - optional - COMMON)]
    for key in ("unique_id", "name"):
        if not isinstance(config.get(key), str) or not config[key]:
            found.append(f"{key} must be a non-empty string")
    device = config.get("device", {})
    if not device.get("identifiers") or set(device) - DEVICE_KEYS:
        found.append(f"device must have identifiers and only known keys: {device}")
    for key in ("manufacturer", "model", "sw_version"):
        if not device.get(key):
            found.append(f"device lacks {key}")
    if not config.get("origin", {}).get("name") or set(config.get("origin", {})) - ORIGIN_KEYS:
        found.append("origin must have a name and only known keys")
    for entry in config.get("availability", []):
        if not isinstance(entry, dict) or "topic" not in entry or set(entry) - {"topic", "payload_available",
                                                                               "payload_not_available",
                                                                               "value_template"}:
            found.append(f"bad availability entry {entry}")
    if config.get("availability_mode", "latest") not in ("all", "any", "latest"):
        found.append("bad availability_mode")
    for key, value in config.items():
        if key.endswith("_topic") and (not isinstance(value, str) or "+" in value or "#" in value or not value):
            found.append(f"{key} must be a topic without wildcards")
    if component == "light":
        modes = config.get("supported_color_modes", [])
        if config["schema"] != "json" or not set(modes) <= COLOR_MODES or ("onoff" in modes and len(modes) > 1):
            found.append(f"bad light schema or color modes {modes}")
    if component == "climate" and not set(config.get("modes", [])) <= CLIMATE_MODES:
        found.append(f"bad climate modes {config['modes']}")
    if component == "water_heater" and not set(config.get("modes", [])) <= WATER_HEATER_MODES:
        found.append(f"bad water heater modes {config['modes']}")
    if component == "cover" and config.get("device_class", "awning") not in COVER_CLASSES:
        found.append(f"bad cover class {config['device_class']}")
    if component == "binary_sensor" and config.get("device_class", "power") not in BINARY_CLASSES:
        found.append(f"bad binary sensor class {config['device_class']}")
    if component == "sensor":
        device_class = config.get("device_class")
        if device_class is not None and config.get("unit_of_measurement") not in SENSOR_UNITS.get(device_class, ()):
            found.append(f"unit {config.get('unit_of_measurement')} does not fit device class {device_class}")
        if config.get("state_class", "measurement") not in STATE_CLASSES:
            found.append("bad state_class")
    return found


_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined)


def render(template: str, payload: bytes) -> str:
    """Render a value template as Home Assistant does: `value` the text, `value_json` the parsed JSON."""
    text = payload.decode()
    return _ENV.from_string(template).render(value=text, value_json=json.loads(text)).strip()
