"""Home Assistant's command payloads on `set[/aspect]`, and the generic `command` messages, as entity commands.

Pure data in, data out, like discovery.py: a payload that is not what the platform sends is refused with
`Rejected` and the reason, which the bridge publishes on the entity's `result` topic.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from coachiq.entities.mapping import EntityConfig
from coachiq.features.mqtt.discovery import CLIMATE_COMMANDS, FAN_SPEEDS, WATER_COMMANDS, is_light

MAX_PAYLOAD_BYTES = 4096  # every command fits in a few dozen bytes; more is a mistake or an attack


class Rejected(Exception):
    """An MQTT message that is not a valid command; nothing was changed."""


def _text(payload: bytes) -> str:
    try:
        return payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise Rejected("the payload is not UTF-8 text") from None


def _number(payload: bytes, what: str) -> float:
    text = _text(payload)
    try:
        value = float(text)
    except ValueError:
        raise Rejected(f"{what} must be a number, got {text[:40]!r}") from None
    if not math.isfinite(value):
        raise Rejected(f"{what} must be a finite number")
    return value


def _choice(payload: bytes, allowed: Mapping[str, Any], what: str) -> Any:
    text = _text(payload)
    if text not in allowed:
        raise Rejected(f"{what} must be one of {', '.join(allowed)}, got {text[:40]!r}")
    return allowed[text]


def _json_object(payload: bytes) -> dict[str, Any]:
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        raise Rejected("the payload is not valid JSON") from None
    if not isinstance(data, dict):
        raise Rejected("the payload must be a JSON object")
    return data


def generic_command(payload: bytes) -> tuple[str, dict[str, Any], Any]:
    """(command, params, id) of a `.../command` message: {"command": ..., "params": {...}, "id": ...}."""
    data = _json_object(payload)
    extra = sorted(set(data) - {"command", "params", "id"})
    if extra:
        raise Rejected(f"unknown key(s) {', '.join(extra)}: a command has command, params and id")
    command, params, request_id = data.get("command"), data.get("params", {}), data.get("id")
    if not isinstance(command, str) or not command:
        raise Rejected("`command` must be a command name such as turn_on")
    if not isinstance(params, dict):
        raise Rejected("`params` must be a JSON object")
    if request_id is not None and not isinstance(request_id, str | int):
        raise Rejected("`id` must be a string or an integer")
    return command, params, request_id


def translate(config: EntityConfig, aspect: str, payload: bytes, values: Mapping[str, Any]
              ) -> tuple[str, dict[str, Any]]:
    """The entity command (name, params) that a Home Assistant payload on `set[/aspect]` asks for."""
    device = config.device
    handler = _TRANSLATORS.get((device, aspect))
    if handler is None:
        raise Rejected(f"{config.id} takes no commands on set{'/' + aspect if aspect else ''}")
    return handler(config, payload, values)


def _t_light(config: EntityConfig, payload: bytes, values: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    if not is_light(config):
        return _t_switch(config, payload, values)
    data = _json_object(payload)
    extra = sorted(set(data) - {"state", "brightness"})
    if extra:
        raise Rejected(f"unsupported light field(s) {', '.join(extra)}: this light takes state and brightness")
    state = data.get("state")
    if state == "OFF":
        return "turn_off", {}
    if state != "ON":
        raise Rejected("`state` must be ON or OFF")
    if "brightness" in data:
        brightness = data["brightness"]
        if config.device != "dimmer":
            raise Rejected(f"{config.id} is not dimmable")
        if isinstance(brightness, bool) or not isinstance(brightness, int | float) or not 0 <= brightness <= 100:
            raise Rejected("`brightness` must be a number 0..100")
        return ("set_brightness", {"brightness": brightness}) if brightness > 0 else ("turn_off", {})
    return "turn_on", {}


def _t_switch(config: EntityConfig, payload: bytes, values: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    on = _choice(payload, {"ON": True, "OFF": False}, "the payload")
    names = {"inverter": ("enable", "disable"), "generator": ("start", "stop")}.get(config.device,
                                                                                   ("turn_on", "turn_off"))
    return names[0] if on else names[1], {}


def _t_lock(config: EntityConfig, payload: bytes, values: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    return _choice(payload, {"LOCK": "lock", "UNLOCK": "unlock"}, "the payload"), {}


def _t_climate_mode(config: EntityConfig, payload: bytes, values: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    if config.device == "furnace":
        return _choice(payload, {"off": "turn_off", "heat": "turn_on"}, "the mode"), {}
    mode = _choice(payload, {"off": "off", **CLIMATE_COMMANDS}, "the mode")
    return ("turn_off", {}) if mode == "off" else ("set_mode", {"mode": mode})


def _t_temperature(config: EntityConfig, payload: bytes, values: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    value = _number(payload, "the temperature")
    if config.device == "water_heater":
        return "set_setpoint", {"heat": value}
    # One target: the cooling setpoint while cooling, the heating one otherwise.
    return "set_setpoint", {"cool" if values.get("mode") == "cool" else "heat": value}


def _t_temperature_low(config: EntityConfig, payload: bytes, values: Mapping[str, Any]
                       ) -> tuple[str, dict[str, Any]]:
    return "set_setpoint", {"heat": _number(payload, "the temperature")}


def _t_temperature_high(config: EntityConfig, payload: bytes, values: Mapping[str, Any]
                        ) -> tuple[str, dict[str, Any]]:
    return "set_setpoint", {"cool": _number(payload, "the temperature")}


def _t_fan_mode(config: EntityConfig, payload: bytes, values: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    allowed: dict[str, Any] = dict(FAN_SPEEDS)
    if config.device == "thermostat":
        allowed["auto"] = "auto"
    speed = _choice(payload, allowed, "the fan mode")
    return "set_fan", {"mode": "auto"} if speed == "auto" else {"speed": speed}


def _t_water_mode(config: EntityConfig, payload: bytes, values: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    mode = _choice(payload, {"off": "off", **WATER_COMMANDS}, "the mode")
    return ("turn_off", {}) if mode == "off" else ("set_mode", {"mode": mode})


def _t_percentage(config: EntityConfig, payload: bytes, values: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    speed = _number(payload, "the percentage")
    if not 0 <= speed <= 100:
        raise Rejected("the percentage must be 0..100")
    return ("turn_off", {}) if speed == 0 else ("set_fan", {"speed": speed})


def _t_preset(config: EntityConfig, payload: bytes, values: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    _choice(payload, {"auto": "auto"}, "the preset mode")
    return "set_fan", {"mode": "auto"}


def _t_cover(config: EntityConfig, payload: bytes, values: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    return _choice(payload, {"OPEN": "extend", "CLOSE": "retract", "STOP": "stop"}, "the payload"), {}


_Translator = Callable[[EntityConfig, bytes, Mapping[str, Any]], tuple[str, dict[str, Any]]]
_TRANSLATORS: Mapping[tuple[str, str], _Translator] = {
    ("dimmer", ""): _t_light, ("relay", ""): _t_light, ("ac_load", ""): _t_switch, ("water_pump", ""): _t_switch,
    ("inverter", ""): _t_switch, ("generator", ""): _t_switch, ("lock", ""): _t_lock,
    ("thermostat", "mode"): _t_climate_mode, ("thermostat", "temperature"): _t_temperature,
    ("thermostat", "temperature_low"): _t_temperature_low, ("thermostat", "temperature_high"): _t_temperature_high,
    ("thermostat", "fan_mode"): _t_fan_mode, ("furnace", "mode"): _t_climate_mode,
    ("furnace", "fan_mode"): _t_fan_mode, ("water_heater", "mode"): _t_water_mode,
    ("water_heater", "temperature"): _t_temperature, ("roof_fan", ""): _t_switch,
    ("roof_fan", "percentage"): _t_percentage, ("roof_fan", "preset_mode"): _t_preset,
    ("motor_pair", ""): _t_cover, ("awning", ""): _t_cover, ("shade", ""): _t_cover,
}
