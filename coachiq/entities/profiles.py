"""How each device family's status frames become entity state values.

`fold` takes one decoded status frame and returns the entity values it sets (our own names, plain
JSON values). A value the device reports as not available comes out as None.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from coachiq.entities import leveling
from coachiq.entities.mapping import EntityConfig

Values = Mapping[str, Any]
Folder = Callable[[EntityConfig, str, int | None, Values, Mapping[str, Any]], dict[str, Any] | None]


def _is(value: Any, label: str) -> bool | None:
    """True/False for a two-state enumeration, None when the device did not say."""
    return None if value is None else value == label


def _dimmer(config: EntityConfig, dgn: str, instance: int | None, v: Values, state: Mapping[str, Any]
            ) -> dict[str, Any]:
    brightness = v.get("brightness")
    load = v.get("load_status")
    on = _is(load, "on") if load is not None else (None if brightness is None else brightness > 0)
    if config.device == "dimmer":
        return {"on": on, "brightness": brightness}
    return {"on": on}


def _motor_pair(config: EntityConfig, dgn: str, instance: int | None, v: Values, state: Mapping[str, Any]
                ) -> dict[str, Any]:
    brightness = v.get("brightness")
    load = v.get("load_status")
    active = _is(load, "on") if load is not None else (None if brightness is None else brightness > 0)
    key = "extend_active" if instance == config.extend_instance else "retract_active"
    values = {**state, key: active}
    extending, retracting = values.get("extend_active"), values.get("retract_active")
    motion = "extending" if extending else "retracting" if retracting else "stopped"
    return {key: active, "motion": motion}


def _ac_load(config: EntityConfig, dgn: str, instance: int | None, v: Values, state: Mapping[str, Any]
             ) -> dict[str, Any]:
    level = v.get("operating_level")
    return {"on": None if level is None else level > 0, "level": level, "current": v.get("present_current")}


def _lock(config: EntityConfig, dgn: str, instance: int | None, v: Values, state: Mapping[str, Any]
          ) -> dict[str, Any]:
    return {"locked": _is(v.get("lock_status"), "locked")}


def _tank(config: EntityConfig, dgn: str, instance: int | None, v: Values, state: Mapping[str, Any]
          ) -> dict[str, Any]:
    relative, resolution = v.get("relative_level"), v.get("resolution")
    level = None
    if relative is not None and resolution:
        level = round(min(100.0, 100.0 * relative / resolution), 1)
    return {"level": level, "volume_l": v.get("absolute_level"), "capacity_l": v.get("tank_size")}


def _dc_source(config: EntityConfig, dgn: str, instance: int | None, v: Values, state: Mapping[str, Any]
               ) -> dict[str, Any]:
    if dgn == "DC_SOURCE_STATUS_1":
        return {"voltage": v.get("dc_voltage"), "current": v.get("dc_current")}
    return {"state_of_charge": v.get("state_of_charge"), "temperature": v.get("source_temperature"),
            "time_remaining_min": v.get("time_remaining")}


_CHARGER_IDLE = frozenset({"disabled", "not_charging"})


def _charger(config: EntityConfig, dgn: str, instance: int | None, v: Values, state: Mapping[str, Any]
             ) -> dict[str, Any]:
    operating = v.get("operating_state")
    return {"state": operating, "charging": None if operating is None else operating not in _CHARGER_IDLE,
            "voltage": v.get("charge_voltage"), "current": v.get("charge_current"),
            "enabled_at_power_up": _is(v.get("enabled_at_power_up"), "enabled")}


def _inverter(config: EntityConfig, dgn: str, instance: int | None, v: Values, state: Mapping[str, Any]
              ) -> dict[str, Any]:
    return {"status": v.get("status"), "enabled": _is(v.get("inverter_enabled"), "enabled"),
            "load_sense": _is(v.get("load_sense_enabled"), "enabled"),
            "pass_through": _is(v.get("pass_through_enabled"), "enabled")}


def _transfer_switch(config: EntityConfig, dgn: str, instance: int | None, v: Values, state: Mapping[str, Any]
                     ) -> dict[str, Any] | None:
    # One ATS instance reports each of its inputs and its output, leg by leg; we keep leg 1 of each.
    if v.get("leg") not in (None, "leg_1"):
        return None
    # RV-C 6.32.2: the primary input is typically the generator, the secondary one the shore cord.
    prefix = "output" if v.get("direction") == "output" else "generator" if v.get("source") == "primary" else "shore"
    return {f"{prefix}_voltage": v.get("rms_voltage"), f"{prefix}_current": v.get("rms_current"),
            f"{prefix}_frequency": v.get("frequency")}


def _thermostat(config: EntityConfig, dgn: str, instance: int | None, v: Values, state: Mapping[str, Any]
                ) -> dict[str, Any]:
    if dgn == "THERMOSTAT_STATUS_1":
        return {"mode": v.get("operating_mode"), "fan_mode": v.get("fan_mode"), "fan_speed": v.get("fan_speed"),
                "heat_setpoint": _temperature(v.get("heat_setpoint")),
                "cool_setpoint": _temperature(v.get("cool_setpoint"))}
    if dgn == "THERMOSTAT_AMBIENT_STATUS":
        return {"ambient_temperature": _temperature(v.get("ambient_temperature"))}
    return {"ac_output_level": v.get("output_level"), "ac_fan_speed": v.get("fan_speed")}


def _temperature(value: Any) -> Any:
    # 1/32 degC steps: two decimals say everything the sensor knows.
    return None if value is None else round(float(value), 2)


def _furnace(config: EntityConfig, dgn: str, instance: int | None, v: Values, state: Mapping[str, Any]
             ) -> dict[str, Any]:
    output = v.get("heat_output_level")
    return {"on": None if output is None else output > 0, "mode": v.get("operating_mode"),
            "heat_output": output, "fan_speed": v.get("circulation_fan_speed")}


def _water_heater(config: EntityConfig, dgn: str, instance: int | None, v: Values, state: Mapping[str, Any]
                  ) -> dict[str, Any]:
    mode = v.get("operating_mode")
    return {"on": None if mode is None else mode != "off", "mode": mode,
            "setpoint": _temperature(v.get("setpoint")), "water_temperature": _temperature(v.get("water_temperature")),
            "burner_lit": _is(v.get("burner_status"), "lit"), "electric_active": _is(v.get("ac_element_status"),
                                                                                     "active")}


def _water_pump(config: EntityConfig, dgn: str, instance: int | None, v: Values, state: Mapping[str, Any]
                ) -> dict[str, Any]:
    enabled = _is(v.get("operating_status"), "enabled")
    return {"enabled": enabled, "on": enabled, "running": _is(v.get("running"), "running"),
            "city_water": _is(v.get("city_water"), "connected")}


def _roof_fan(config: EntityConfig, dgn: str, instance: int | None, v: Values, state: Mapping[str, Any]
              ) -> dict[str, Any]:
    return {"on": _is(v.get("system_status"), "on"), "fan_speed": v.get("fan_speed"), "fan_mode": v.get("fan_mode"),
            "dome": v.get("dome_position"), "air_direction": v.get("air_direction")}


def _generator(config: EntityConfig, dgn: str, instance: int | None, v: Values, state: Mapping[str, Any]
               ) -> dict[str, Any]:
    status = v.get("status")
    return {"status": status, "running": None if status is None else status == "running",
            "run_time_min": v.get("engine_run_time"), "load": v.get("engine_load"),
            "start_battery_voltage": v.get("start_battery_voltage")}


def _awning(config: EntityConfig, dgn: str, instance: int | None, v: Values, state: Mapping[str, Any]
            ) -> dict[str, Any]:
    return {"motion": v.get("motion"), "position": v.get("position")}


def _shade(config: EntityConfig, dgn: str, instance: int | None, v: Values, state: Mapping[str, Any]
           ) -> dict[str, Any]:
    # RV-C: the reverse output lowers (closes) a shade, which the entity calls extending.
    forward, reverse = v.get("forward_status"), v.get("reverse_status")
    motion = "extending" if reverse == "active" else "retracting" if forward == "active" else "stopped"
    return {"motion": motion, "motor_duty": v.get("motor_duty")}


def _chassis(config: EntityConfig, dgn: str, instance: int | None, v: Values, state: Mapping[str, Any]
             ) -> dict[str, Any]:
    return {"speed_kmh": v.get("vehicle_speed"), "engine_rpm": v.get("engine_speed"),
            "park_brake": _is(v.get("park_brake"), "engaged"), "ignition": _is(v.get("ignition_switch"), "on"),
            "gear": v.get("transmission_current_gear")}


FOLDERS: Mapping[str, Folder] = {
    "dimmer": _dimmer, "relay": _dimmer, "motor_pair": _motor_pair, "ac_load": _ac_load, "lock": _lock,
    "tank": _tank, "dc_source": _dc_source, "charger": _charger, "inverter": _inverter,
    "transfer_switch": _transfer_switch, "thermostat": _thermostat, "furnace": _furnace,
    "water_heater": _water_heater, "water_pump": _water_pump, "roof_fan": _roof_fan, "generator": _generator,
    "awning": _awning, "shade": _shade, "chassis": _chassis, "leveling": leveling.fold,
}


def fold(config: EntityConfig, dgn: str, instance: int | None, values: Values, state: Mapping[str, Any]
         ) -> dict[str, Any] | None:
    """The entity values one status frame sets (None: the frame says nothing about this entity)."""
    return FOLDERS[config.device](config, dgn, instance, values, state)
