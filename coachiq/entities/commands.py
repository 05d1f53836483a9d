"""Entity commands: validate a command and its parameters, and plan the RV-C frames that carry it out.

A `Plan` lists what to transmit (command DGN, values, instance) and what the device's status echo must
show for the command to count as confirmed. Planning is pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from coachiq.entities.mapping import EntityConfig
from coachiq.entities.model import Command, InvalidCommand

# Sane ranges (degC) for what a person may ask of a thermostat or a water heater.
SETPOINT_RANGE = (5.0, 35.0)
WATER_SETPOINT_RANGE = (30.0, 75.0)
_THERMOSTAT_MODES = ("off", "cool", "heat", "auto_heat_cool", "fan_only", "aux_heat", "window_defrost_dehumidify")
_WATER_HEATER_MODES = ("off", "combustion", "electric", "gas_electric", "automatic")
_FURNACE_MODES = ("automatic", "manual")
_ROOF_FAN_DOME = ("closed", "quarter_open", "half_open", "three_quarters_open", "open")
_GENERATOR_STARTING = frozenset({"preheat", "cranking", "priming", "running"})


@dataclass(frozen=True, slots=True)
class Transmission:
    """One frame to send: a command DGN by name, its values, and the instance."""

    dgn: str
    values: Mapping[str, Any]
    instance: int | None


@dataclass(frozen=True, slots=True)
class Plan:
    """What a command sends and what confirms it.

    expect: entity values the status echo must show; a frozenset means "any of these"; empty means any
    status frame heard after sending confirms (commands whose result is relative, such as ramp_up).
    """

    transmissions: tuple[Transmission, ...]
    expect: Mapping[str, Any] = field(default_factory=dict)
    duration_s: float | None = None  # motion commands: how long the motion may run before it must be renewed
    repeat_s: float | None = None  # held motion whose device needs the frame repeated (leveling manual mode)
    # A pause before the last transmission (a device that needs time to act on the first ones), and frames
    # to send `followup_after_s` after the last one unless another command for the entity comes first.
    settle_s: float = 0.0
    followup: tuple[Transmission, ...] = ()
    followup_after_s: float = 0.0


def matches(expect: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
    """True when `values` show everything `expect` asks for."""
    for key, wanted in expect.items():
        got = values.get(key)
        if isinstance(wanted, frozenset):
            if got not in wanted:
                return False
        elif isinstance(wanted, float) and not isinstance(got, bool):
            tolerance = 0.05 if "setpoint" in key else 0.51  # the device's resolution: 1/32 degC, 0.5 %
            if not isinstance(got, int | float) or abs(got - wanted) > tolerance:
                return False
        elif got != wanted:
            return False
    return True


def _shown(value: object) -> str:
    """A value for a message, cut short: a client may send a 400-digit number or a megabyte of text."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"


def _number(params: Mapping[str, Any], name: str, low: float, high: float, unit: str = "") -> float:
    """The parameter as a float within [low, high]; checked before any arithmetic touches it.

    JSON integers have no size limit, so a bound is compared with the integer itself (exact, never
    overflowing) before it is turned into a float; floats that are not finite are refused first.
    """
    value = params.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or (isinstance(value, float) and not math.isfinite(value)):
        raise InvalidCommand(f"`{name}` must be a number {low:g}..{high:g}{unit}, got {_shown(value)}", field=name)
    if not low <= value <= high:
        raise InvalidCommand(f"`{name}` {_shown(value)} is out of range: allowed {low:g}..{high:g}{unit}",
                             field=name)
    return float(value)


def _choice(params: Mapping[str, Any], name: str, allowed: tuple[str, ...]) -> str:
    value = params.get(name)
    if not isinstance(value, str) or value not in allowed:
        raise InvalidCommand(f"`{name}` must be one of {', '.join(allowed)}, got {_shown(value)}", field=name)
    return str(value)


def _only(params: Mapping[str, Any], allowed: tuple[str, ...], command: str) -> None:
    extra = sorted(set(params) - set(allowed))
    if extra:
        what = ", ".join(allowed) if allowed else "no parameters"
        named = ", ".join(_shown(e)[1:-1] for e in extra[:3]) + (f" and {len(extra) - 3} more" if len(extra) > 3
                                                                 else "")
        raise InvalidCommand(f"unknown parameter(s) {named} for {command}: it takes {what}",
                             field=_shown(extra[0])[1:-1])


def plan(config: EntityConfig, command: str, params: Mapping[str, Any], state: Mapping[str, Any]) -> Plan:
    """Validate `command` with `params` for the entity and plan it; InvalidCommand says what is wrong."""
    try:
        known = Command(command)
    except ValueError:
        raise InvalidCommand(f"unknown command {command!r}; known: {', '.join(c.value for c in Command)}",
                             field="command") from None
    if command not in config.capabilities:
        supported = ", ".join(sorted(config.capabilities)) or "none (read-only)"
        raise InvalidCommand(f"{config.id} does not support {command}; its commands: {supported}",
                             field="command")
    return _PLANNERS[config.device](config, known, params, state)


# --- DC dimmer and relay outputs (lights, switches, motor pairs) ------------------------------------

def _dimmer_frame(config: EntityConfig, instance: int | None, command: str, level: float | None = None,
                  duration: int | None = None) -> Transmission:
    values: dict[str, Any] = {"group": 0xFF if config.group is None else config.group, "command": command,
                              "desired_level": level, "duration": duration}
    return Transmission("DC_DIMMER_COMMAND_2", values, instance)


def _dimmer(config: EntityConfig, command: Command, params: Mapping[str, Any], state: Mapping[str, Any]) -> Plan:
    dimmable = config.device == "dimmer"
    if command is Command.SET_BRIGHTNESS:
        _only(params, ("brightness",), command)
        brightness = _number(params, "brightness", 0, 100, " %")
        return Plan((_dimmer_frame(config, config.instance, "set_level", brightness),),
                    {"brightness": brightness, "on": brightness > 0})
    if command is Command.TURN_ON:
        _only(params, ("brightness",) if dimmable else (), command)
        level = _number(params, "brightness", 0.5, 100, " %") if "brightness" in params else 100.0
        expect: dict[str, Any] = {"on": True}
        if "brightness" in params:
            expect["brightness"] = level
        return Plan((_dimmer_frame(config, config.instance, "set_level", level),), expect)
    _only(params, (), command)
    if command is Command.TURN_OFF:
        return Plan((_dimmer_frame(config, config.instance, "set_level", 0.0),), {"on": False})
    if command is Command.TOGGLE:
        on = state.get("on")
        return Plan((_dimmer_frame(config, config.instance, "toggle"),), {} if on is None else {"on": not on})
    names = {Command.RAMP_UP: "ramp_up", Command.RAMP_DOWN: "ramp_down", Command.STOP: "stop"}
    return Plan((_dimmer_frame(config, config.instance, names[command]),))


def _duration(config: EntityConfig, params: Mapping[str, Any]) -> float:
    if "duration_s" not in params:
        return config.max_duration_s
    return _number(params, "duration_s", 0.1, config.max_duration_s, " s")


def _motor_pair(config: EntityConfig, command: Command, params: Mapping[str, Any], state: Mapping[str, Any]
                ) -> Plan:
    off_extend = _dimmer_frame(config, config.extend_instance, "set_level", 0.0)
    off_retract = _dimmer_frame(config, config.retract_instance, "set_level", 0.0)
    if command is Command.STOP:
        _only(params, (), command)
        return Plan((off_extend, off_retract), {"extend_active": False, "retract_active": False})
    _only(params, ("duration_s",), command)
    duration = _duration(config, params)
    # The device drops the output by itself when the duration ends: a lost server cannot leave it running.
    seconds = max(1, math.ceil(duration))
    if command is Command.EXTEND:
        # One output at a time: the opposite output goes off before this one comes on.
        run = _dimmer_frame(config, config.extend_instance, "on_duration", 100.0, seconds)
        return Plan((off_retract, run), {"extend_active": True, "retract_active": False}, duration)
    run = _dimmer_frame(config, config.retract_instance, "on_duration", 100.0, seconds)
    return Plan((off_extend, run), {"retract_active": True, "extend_active": False}, duration)


def _ac_load(config: EntityConfig, command: Command, params: Mapping[str, Any], state: Mapping[str, Any]) -> Plan:
    _only(params, (), command)
    group = 0xFF if config.group is None else config.group
    if command is Command.TOGGLE:
        on = state.get("on")
        return Plan((Transmission("AC_LOAD_COMMAND", {"group": group, "command": "toggle"}, config.instance),),
                    {} if on is None else {"on": not on})
    on = command is Command.TURN_ON
    values = {"group": group, "command": "set_level", "desired_level": 100.0 if on else 0.0}
    return Plan((Transmission("AC_LOAD_COMMAND", values, config.instance),), {"on": on})


def _lock(config: EntityConfig, command: Command, params: Mapping[str, Any], state: Mapping[str, Any]) -> Plan:
    _only(params, (), command)
    locking = command is Command.LOCK
    return Plan((Transmission("DOOR_COMMAND", {"lock_request": "lock" if locking else "unlock"}, config.instance),),
                {"locked": locking})


def _charger(config: EntityConfig, command: Command, params: Mapping[str, Any], state: Mapping[str, Any]) -> Plan:
    _only(params, (), command)
    # CHARGER_STATUS carries no enable flag, so any status after the command confirms it was heard.
    action = "enable" if command is Command.ENABLE else "disable"
    return Plan((Transmission("CHARGER_COMMAND", {"command": action}, config.instance),))


def _inverter(config: EntityConfig, command: Command, params: Mapping[str, Any], state: Mapping[str, Any]) -> Plan:
    _only(params, (), command)
    enable = command is Command.ENABLE
    return Plan((Transmission("INVERTER_COMMAND", {"inverter_enable": "enable" if enable else "disable"},
                              config.instance),), {"enabled": enable})


def _thermostat(config: EntityConfig, command: Command, params: Mapping[str, Any], state: Mapping[str, Any]
                ) -> Plan:
    # Fields left out are sent as "not available", which RV-C devices read as "leave unchanged".
    def frame(values: Mapping[str, Any]) -> tuple[Transmission, ...]:
        return (Transmission("THERMOSTAT_COMMAND_1", values, config.instance),)

    if command is Command.TURN_OFF:
        _only(params, (), command)
        return Plan(frame({"operating_mode": "off"}), {"mode": "off"})
    if command is Command.SET_MODE:
        _only(params, ("mode",), command)
        mode = _choice(params, "mode", _THERMOSTAT_MODES)
        return Plan(frame({"operating_mode": mode}), {"mode": mode})
    if command is Command.SET_SETPOINT:
        _only(params, ("heat", "cool"), command)
        if "heat" not in params and "cool" not in params:
            raise InvalidCommand("set_setpoint needs `heat`, `cool` or both (degC)", field="heat")
        values: dict[str, Any] = {}
        expect: dict[str, Any] = {}
        for name in ("heat", "cool"):
            if name in params:
                value = _number(params, name, *SETPOINT_RANGE, " degC")
                values[f"{name}_setpoint"] = value
                expect[f"{name}_setpoint"] = round(round(value * 32) / 32, 5)
        heat, cool = values.get("heat_setpoint"), values.get("cool_setpoint")
        if heat is not None and cool is not None and heat > cool:
            raise InvalidCommand("`heat` must not be above `cool`", field="heat")
        return Plan(frame(values), expect)
    _only(params, ("speed", "mode"), command)  # set_fan
    if "speed" in params:
        speed = _number(params, "speed", 0, 100, " %")
        return Plan(frame({"fan_mode": "on", "fan_speed": speed}), {"fan_mode": "on", "fan_speed": speed})
    mode = _choice(params, "mode", ("auto", "on"))
    return Plan(frame({"fan_mode": mode}), {"fan_mode": mode})


def _furnace(config: EntityConfig, command: Command, params: Mapping[str, Any], state: Mapping[str, Any]) -> Plan:
    def frame(values: Mapping[str, Any]) -> tuple[Transmission, ...]:
        return (Transmission("FURNACE_COMMAND", values, config.instance),)

    if command in (Command.TURN_ON, Command.TURN_OFF):
        _only(params, (), command)
        on = command is Command.TURN_ON
        return Plan(frame({"operating_mode": "manual", "heat_output_level": 100.0 if on else 0.0}), {"on": on})
    if command is Command.SET_MODE:
        _only(params, ("mode",), command)
        mode = _choice(params, "mode", _FURNACE_MODES)
        return Plan(frame({"operating_mode": mode}), {"mode": mode})
    _only(params, ("speed",), command)
    speed = _number(params, "speed", 0, 100, " %")
    return Plan(frame({"circulation_fan_speed": speed}), {"fan_speed": speed})


def _water_heater(config: EntityConfig, command: Command, params: Mapping[str, Any], state: Mapping[str, Any]
                  ) -> Plan:
    def frame(values: Mapping[str, Any]) -> tuple[Transmission, ...]:
        return (Transmission("WATERHEATER_COMMAND", values, config.instance),)

    if command is Command.SET_SETPOINT:
        _only(params, ("heat",), command)
        value = _number(params, "heat", *WATER_SETPOINT_RANGE, " degC")
        return Plan(frame({"setpoint": value}), {"setpoint": round(round(value * 32) / 32, 5)})
    if command is Command.SET_MODE:
        _only(params, ("mode",), command)
        mode = _choice(params, "mode", _WATER_HEATER_MODES)
    else:
        _only(params, (), command)
        mode = config.on_mode if command is Command.TURN_ON else "off"
    return Plan(frame({"operating_mode": mode}), {"mode": mode})


def _water_pump(config: EntityConfig, command: Command, params: Mapping[str, Any], state: Mapping[str, Any]
                ) -> Plan:
    _only(params, (), command)
    enable = command in (Command.ENABLE, Command.TURN_ON)
    return Plan((Transmission("WATER_PUMP_COMMAND", {"command": "enable" if enable else "disable"}, None),),
                {"enabled": enable})


def _roof_fan(config: EntityConfig, command: Command, params: Mapping[str, Any], state: Mapping[str, Any]) -> Plan:
    def frame(values: Mapping[str, Any]) -> tuple[Transmission, ...]:
        return (Transmission("ROOF_FAN_COMMAND_1", values, config.instance),)

    if command in (Command.TURN_ON, Command.TURN_OFF):
        _only(params, (), command)
        on = command is Command.TURN_ON
        return Plan(frame({"system_status": "on" if on else "off"}), {"on": on})
    _only(params, ("speed", "mode", "direction", "dome"), command)
    if len(params) != 1:
        raise InvalidCommand("set_fan on a roof fan takes one of `speed`, `mode`, `direction` or `dome`",
                             field=next(iter(params), "speed"))
    if "speed" in params:
        speed = _number(params, "speed", 0, 100, " %")
        return Plan(frame({"system_status": "on", "fan_mode": "forced_on", "speed_mode": "manual",
                           "fan_speed": speed}), {"fan_speed": speed})
    # ROOF_FAN_COMMAND_1 byte 3 carries the wind direction switch and the dome position; fields left out
    # are sent as "not available", which leaves the fan's other settings as they are.
    if "direction" in params:
        direction = _choice(params, "direction", ("air_out", "air_in"))
        return Plan(frame({"air_direction": direction}), {"air_direction": direction})
    if "dome" in params:
        dome = _choice(params, "dome", _ROOF_FAN_DOME)
        return Plan(frame({"dome_position": dome}), {"dome": dome})
    mode = _choice(params, "mode", ("auto", "forced_on"))
    return Plan(frame({"system_status": "on", "fan_mode": mode}), {"fan_mode": mode})


def _generator(config: EntityConfig, command: Command, params: Mapping[str, Any], state: Mapping[str, Any]
               ) -> Plan:
    _only(params, (), command)
    if command is Command.START:
        # A generator takes seconds to run: the echo confirms the start sequence began.
        return Plan((Transmission("GENERATOR_COMMAND", {"command": "start"}, None),),
                    {"status": _GENERATOR_STARTING})
    return Plan((Transmission("GENERATOR_COMMAND", {"command": "stop"}, None),),
                {"status": frozenset({"stopped"})})


def _awning(config: EntityConfig, command: Command, params: Mapping[str, Any], state: Mapping[str, Any]) -> Plan:
    if command is Command.STOP:
        _only(params, (), command)
        return Plan((Transmission("AWNING_COMMAND", {"direction": "stop"}, config.instance),), {"motion": "stopped"})
    _only(params, ("duration_s",), command)
    duration = _duration(config, params)
    direction = "extend" if command is Command.EXTEND else "retract"
    motion = "extending" if command is Command.EXTEND else "retracting"
    return Plan((Transmission("AWNING_COMMAND", {"direction": direction}, config.instance),), {"motion": motion},
                duration)


def _shade(config: EntityConfig, command: Command, params: Mapping[str, Any], state: Mapping[str, Any]) -> Plan:
    group = 0xFF if config.group is None else config.group
    if command is Command.STOP:
        _only(params, (), command)
        values = {"group": group, "command": "stop"}
        return Plan((Transmission("WINDOW_SHADE_CONTROL_COMMAND", values, config.instance),), {"motion": "stopped"})
    _only(params, ("duration_s",), command)
    duration = _duration(config, params)
    lower = command is Command.EXTEND  # RV-C: "reverse" lowers (closes) a shade, "forward" raises it
    values = {"group": group, "command": "reverse" if lower else "forward", "motor_duty": 100.0,
              "duration": max(1, math.ceil(duration))}
    return Plan((Transmission("WINDOW_SHADE_CONTROL_COMMAND", values, config.instance),),
                {"motion": "extending" if lower else "retracting"}, duration)


def _leveling(config: EntityConfig, command: Command, params: Mapping[str, Any], state: Mapping[str, Any]
              ) -> Plan:
    from coachiq.entities import leveling  # leveling builds on this module's Plan

    return leveling.plan(config, command, params, state)


def _read_only(config: EntityConfig, command: Command, params: Mapping[str, Any], state: Mapping[str, Any]) -> Plan:
    raise InvalidCommand(f"{config.id} is read-only", field="command")


_PLANNERS = {
    "dimmer": _dimmer, "relay": _dimmer, "motor_pair": _motor_pair, "ac_load": _ac_load, "lock": _lock,
    "charger": _charger, "inverter": _inverter, "thermostat": _thermostat, "furnace": _furnace,
    "water_heater": _water_heater, "water_pump": _water_pump, "roof_fan": _roof_fan, "generator": _generator,
    "awning": _awning, "shade": _shade, "tank": _read_only, "dc_source": _read_only,
    "transfer_switch": _read_only, "chassis": _read_only, "leveling": _leveling,
}
