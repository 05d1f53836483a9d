"""Home Assistant MQTT discovery for a coach: topics, config messages, state payloads and commands.

Pure data in, data out: no I/O, no clock. The sources used for the discovery message shapes are Home
Assistant's MQTT integration pages (the discovery protocol, and one page per platform: light with the
JSON schema, switch, lock, climate, water_heater, fan, cover, sensor, binary_sensor, button); docs/mqtt.md
lists them.

Topics, under `<topic_prefix>/<node_id>` ("base"):
- `base/status`: `online` (birth, retained) / `offline` (clean stop and last will, retained)
- `base/<type>/<name>/state`: the entity's full state as JSON, retained; an `ha` object carries the few
  values Home Assistant reads in its own words (modes, ON/OFF), so its templates stay one lookup long
- `base/<type>/<name>/set[/<aspect>]`: Home Assistant's command payloads (ON, OPEN, 21.5, ...)
- `base/<type>/<name>/command`: `{"command": "turn_on", "params": {...}, "id": ...}` for scripts and fleets
- `base/<type>/<name>/result`: the outcome of every command received over MQTT (not retained)
- `base/safety/state`, `base/safety/emergency_stop/set`, `base/safety/result`
- `<discovery_prefix>/<component>/<node_id>/<object_id>/config`: discovery configs, retained
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from coachiq.entities.mapping import EntityConfig
from coachiq.entities.model import POSITION_CRITICAL_TYPES, EntityType

SHADE_POSITION_CRITICAL = frozenset({"windshield", "driver"})  # shades that can block the driver's view

# Our thermostat modes and Home Assistant's HVAC modes, both ways.
_CLIMATE_MODES = {"off": "off", "cool": "cool", "heat": "heat", "auto_heat_cool": "heat_cool",
                  "fan_only": "fan_only", "window_defrost_dehumidify": "dry", "aux_heat": "heat"}
CLIMATE_COMMANDS = {"cool": "cool", "heat": "heat", "heat_cool": "auto_heat_cool", "fan_only": "fan_only",
                     "dry": "window_defrost_dehumidify"}
# Home Assistant has no "automatic" water-heater mode; `eco` stands for it.
_WATER_MODES = {"off": "off", "combustion": "gas", "electric": "electric", "gas_electric": "performance",
                "automatic": "eco"}
WATER_COMMANDS = {v: k for k, v in _WATER_MODES.items() if k != "off"}
FAN_SPEEDS = {"low": 33.0, "medium": 66.0, "high": 100.0}
_COVER_STATES = {"extending": "opening", "retracting": "closing", "stopped": "stopped"}
_COVER_CLASSES = {EntityType.AWNING: "awning", EntityType.SHADE: "shade"}


SAFETY_ID = "safety.state"  # the coach's safety view, published like an entity
EMERGENCY_STOP_ID = "safety.emergency_stop"


@dataclass(frozen=True, slots=True)
class Topics:
    """Every topic of one coach."""

    discovery_prefix: str
    topic_prefix: str
    node_id: str

    @property
    def base(self) -> str:
        """All of this coach's own topics start here."""
        return f"{self.topic_prefix}/{self.node_id}"

    @property
    def status(self) -> str:
        """Availability of CoachIQ itself: birth `online`, last will `offline`."""
        return f"{self.base}/status"

    @property
    def ha_status(self) -> str:
        """Where Home Assistant announces itself (`online` after it starts)."""
        return f"{self.discovery_prefix}/status"

    def entity(self, entity_id: str) -> str:
        """The topic folder of an entity: base/<type>/<name>."""
        return f"{self.base}/{entity_id.replace('.', '/', 1)}"

    def state(self, entity_id: str) -> str:
        """The entity's retained state (the coach's safety view: base/safety/state)."""
        if entity_id == SAFETY_ID:
            return f"{self.base}/safety/state"
        return f"{self.entity(entity_id)}/state"

    def set(self, entity_id: str, aspect: str = "") -> str:
        """Where Home Assistant sends one kind of command."""
        return f"{self.entity(entity_id)}/set" + (f"/{aspect}" if aspect else "")

    def result(self, entity_id: str) -> str:
        """Outcomes of commands received over MQTT."""
        return f"{self.entity(entity_id)}/result"

    def config(self, component: str, object_id: str) -> str:
        """A discovery config topic."""
        return f"{self.discovery_prefix}/{component}/{self.node_id}/{object_id}/config"

    @property
    def subscriptions(self) -> tuple[str, ...]:
        """Everything CoachIQ listens to."""
        return (f"{self.base}/+/+/set", f"{self.base}/+/+/set/+", f"{self.base}/+/+/command", self.ha_status)

    def parse_command_topic(self, topic: str) -> tuple[str, str, str] | None:
        """(entity id, kind "set" or "command", aspect) of a command topic, None for any other topic."""
        prefix = self.base + "/"
        if not topic.startswith(prefix):
            return None
        parts = topic[len(prefix):].split("/")
        if len(parts) == 3 and parts[2] in ("set", "command"):
            return f"{parts[0]}.{parts[1]}", parts[2], ""
        if len(parts) == 4 and parts[2] == "set":
            return f"{parts[0]}.{parts[1]}", "set", parts[3]
        return None


@dataclass(frozen=True, slots=True)
class Announcement:
    """One Home Assistant entity: its platform, its object id and its config."""

    component: str
    object_id: str
    config: dict[str, Any]


def is_position_critical(config: EntityConfig) -> bool:
    """Slides, awnings and jacks, and shades that can block the driver's view (by name)."""
    if config.type in POSITION_CRITICAL_TYPES:
        return True
    return config.type is EntityType.SHADE and any(word in config.id for word in SHADE_POSITION_CRITICAL)


# --- state payloads ---------------------------------------------------------------------------------

def _on_off(value: Any) -> str | None:
    return None if value is None else ("ON" if value else "OFF")


def _switch_key(config: EntityConfig) -> str:
    return {"inverter": "enabled", "generator": "running"}.get(config.device, "on")


def _ha_values(config: EntityConfig, values: Mapping[str, Any]) -> dict[str, Any]:
    device = config.device
    if device in ("relay", "ac_load", "water_pump", "inverter", "generator", "roof_fan"):
        ha: dict[str, Any] = {"state": _on_off(values.get(_switch_key(config)))}
        if device == "roof_fan":
            on = values.get("on")
            ha["percentage"] = (values.get("fan_speed") if on else 0) if on is not None else None
            ha["preset"] = "auto" if values.get("fan_mode") == "auto" else None
        if device in ("water_pump", "generator"):
            ha["running"] = _on_off(values.get("running"))
        return ha
    if device == "lock":
        locked = values.get("locked")
        return {"state": None if locked is None else ("LOCKED" if locked else "UNLOCKED")}
    if device == "thermostat":
        mode = _CLIMATE_MODES.get(values.get("mode") or "", "off")
        heat, cool = values.get("heat_setpoint"), values.get("cool_setpoint")
        return {"mode": mode, "target": cool if mode == "cool" else heat, "current": values.get("ambient_temperature"),
                "fan_mode": _fan_mode(values.get("fan_mode"), values.get("fan_speed"))}
    if device == "furnace":
        on = values.get("on")
        return {"mode": "heat" if on else "off", "fan_mode": _fan_mode(None, values.get("fan_speed"))}
    if device == "water_heater":
        return {"mode": _WATER_MODES.get(values.get("mode") or "", "off")}
    if device in ("motor_pair", "awning", "shade"):
        return {"state": _COVER_STATES.get(values.get("motion") or "")}
    if device == "charger":
        return {"charging": _on_off(values.get("charging"))}
    if device == "transfer_switch":
        volts = values.get("shore_voltage")
        return {"shore_power": None if volts is None else _on_off(volts > 0)}
    if device == "chassis":
        return {"park_brake": _on_off(values.get("park_brake")), "ignition": _on_off(values.get("ignition"))}
    if device == "j1939_chassis":
        return {"park_brake": _on_off(values.get("park_brake"))}
    if device == "leveling":
        return {"level": _on_off(values.get("level")), "stored": _on_off(values.get("stored"))}
    return {}


def _fan_mode(mode: Any, speed: Any) -> str | None:
    if mode == "auto":
        return "auto"
    if speed is None:
        return None
    return "low" if speed <= 40 else "medium" if speed <= 75 else "high"


def state_payload(config: EntityConfig, values: Mapping[str, Any], available: bool, timestamp: float | None
                  ) -> dict[str, Any]:
    """The retained state message of an entity: its values, availability, time, and the `ha` view."""
    payload: dict[str, Any] = {**values, "available": available, "timestamp": timestamp,
                               "ha": _ha_values(config, values)}
    if is_light(config):
        # Home Assistant's JSON light schema reads these keys at the top level.
        on = values.get("on")
        payload["state"] = None if on is None else ("ON" if on else "OFF")
        payload["color_mode"] = "brightness" if config.device == "dimmer" else "onoff"
    return payload


def is_light(config: EntityConfig) -> bool:
    return config.device == "dimmer" or (config.device == "relay" and config.type is EntityType.LIGHT)


# --- discovery configs ------------------------------------------------------------------------------

# A device not heard yet has an empty state: every lookup is a get(), which renders "None" (unknown in
# Home Assistant) instead of failing.
def _tpl(key: str) -> str:
    return "{{ value_json.ha.get('%s') }}" % key  # noqa: UP031 - Jinja braces would need doubling in an f-string


def _value(key: str) -> str:
    return "{{ value_json.get('%s') }}" % key  # noqa: UP031


# Sensors: (value key, name suffix, device_class, unit, state_class) by device family.
_SENSORS: Mapping[str, tuple[tuple[str, str, str | None, str | None, str | None], ...]] = {
    "tank": (("level", "level", None, "%", "measurement"),),
    "dc_source": (("voltage", "voltage", "voltage", "V", "measurement"),
                  ("current", "current", "current", "A", "measurement"),
                  ("state_of_charge", "state of charge", "battery", "%", "measurement"),
                  ("temperature", "temperature", "temperature", "°C", "measurement"),
                  ("time_remaining_min", "time remaining", "duration", "min", "measurement")),
    "charger": (("state", "state", None, None, None),
                ("voltage", "voltage", "voltage", "V", "measurement"),
                ("current", "current", "current", "A", "measurement")),
    "inverter": (("status", "status", None, None, None),),
    "ac_load": (("current", "current", "current", "A", "measurement"),),
    "transfer_switch": tuple(
        (f"{line}_{quantity}", f"{line} {quantity}", quantity, unit, "measurement")
        for line in ("shore", "generator", "output")
        for quantity, unit in (("voltage", "V"), ("current", "A"), ("frequency", "Hz"))),
    "generator": (("status", "status", None, None, None),
                  ("run_time_min", "run time", "duration", "min", "total_increasing"),
                  ("load", "load", None, "%", "measurement"),
                  ("start_battery_voltage", "start battery voltage", "voltage", "V", "measurement")),
    "chassis": (("speed_kmh", "speed", "speed", "km/h", "measurement"),
                ("engine_rpm", "engine speed", None, "rpm", "measurement"),
                ("gear", "gear", None, None, None)),
    "j1939_chassis": (("speed_kmh", "speed", "speed", "km/h", "measurement"),
                      ("engine_rpm", "engine speed", None, "rpm", "measurement"),
                      ("gear", "gear", None, None, None)),
    # A leveling system is read-only here: its modes and held manual motion belong on the page.
    "leveling": (("pitch", "pitch", None, "°", "measurement"), ("roll", "roll", None, "°", "measurement"),
                 ("mode", "mode", None, None, None)),
}
# Binary sensors: (ha key, name suffix, device_class) by device family.
_BINARY: Mapping[str, tuple[tuple[str, str, str | None], ...]] = {
    "water_pump": (("running", "running", "running"),),
    "generator": (("running", "running", "running"),),
    "charger": (("charging", "charging", "battery_charging"),),
    "transfer_switch": (("shore_power", "shore power", "plug"),),
    "chassis": (("park_brake", "park brake", None), ("ignition", "ignition", "power")),
    "j1939_chassis": (("park_brake", "park brake", None),),
    "leveling": (("level", "level", None), ("stored", "jacks stored", None)),
}


class Discovery:
    """Builds the discovery configs of one coach."""

    def __init__(self, topics: Topics, coach: str, description: str, version: str) -> None:
        """`coach` is the mapping's name; it becomes the device's model."""
        self.topics = topics
        self.device = {"identifiers": [f"coachiq_{topics.node_id}"], "name": f"CoachIQ {coach}",
                       "manufacturer": "CoachIQ", "model": description or coach, "sw_version": version}
        self.origin = {"name": "CoachIQ", "sw_version": version}

    def _base(self, object_id: str, name: str, availability: list[dict[str, str]]) -> dict[str, Any]:
        return {"name": name, "unique_id": f"coachiq_{self.topics.node_id}_{object_id}",
                "device": self.device, "origin": self.origin,
                "availability": availability, "availability_mode": "all", "qos": 1}

    def _entity_availability(self, entity_id: str) -> list[dict[str, str]]:
        # CoachIQ online, and the device heard recently: both must hold.
        return [{"topic": self.topics.status},
                {"topic": self.topics.state(entity_id),
                 "value_template": "{{ 'online' if value_json.get('available') else 'offline' }}"}]

    def for_entity(self, config: EntityConfig) -> list[Announcement]:
        """Every Home Assistant entity one CoachIQ entity becomes (main control, sensors, binary sensors)."""
        topics, entity_id = self.topics, config.id
        object_id = entity_id.replace(".", "_")
        availability = self._entity_availability(entity_id)
        state = topics.state(entity_id)
        found: list[Announcement] = []

        def add(component: str, suffix: str, name: str, extra: dict[str, Any]) -> None:
            oid = f"{object_id}_{suffix}" if suffix else object_id
            found.append(Announcement(component, oid, {**self._base(oid, name, availability), **extra}))

        main = _MAIN.get(config.device)
        if main is not None:
            component, extra = main(config, topics)
            if component not in ("climate", "water_heater"):  # these name a state topic per value
                extra = {"state_topic": state, **extra}
            add(component, "", config.name, extra)
        for key, suffix, device_class, unit, state_class in _SENSORS.get(config.device, ()):
            extra = {"state_topic": state, "value_template": _value(key)}
            if device_class:
                extra["device_class"] = device_class
            if unit:
                extra["unit_of_measurement"] = unit
            if state_class:
                extra["state_class"] = state_class
            add("sensor", key, f"{config.name} {suffix}", extra)
        for key, suffix, device_class in _BINARY.get(config.device, ()):
            extra = {"state_topic": state, "value_template": _tpl(key), "payload_on": "ON", "payload_off": "OFF"}
            if device_class:
                extra["device_class"] = device_class
            add("binary_sensor", key, f"{config.name} {suffix}", extra)
        return found

    def for_coach(self) -> list[Announcement]:
        """The coach-wide entities: safe state, emergency stop (state and button), faults, vehicle state."""
        topics = self.topics
        availability = [{"topic": topics.status}]
        safety = topics.state(SAFETY_ID)
        items = [
            ("binary_sensor", "safe_state", "Safe state", {
                "state_topic": safety, "value_template": "{{ 'ON' if value_json.safe_state else 'OFF' }}",
                "json_attributes_topic": safety, "json_attributes_template": "{{ {'reasons': value_json.reasons} "
                "| tojson }}"}),
            ("binary_sensor", "emergency_stop_set", "Emergency stop set", {
                "state_topic": safety, "value_template": "{{ 'ON' if value_json.emergency_stop else 'OFF' }}"}),
            ("binary_sensor", "faults", "Faults", {
                "state_topic": safety, "device_class": "problem",
                "value_template": "{{ 'ON' if value_json.faults else 'OFF' }}",
                "json_attributes_topic": safety,
                "json_attributes_template": "{{ {'alerts': value_json.alerts} | tojson }}"}),
            ("sensor", "vehicle_state", "Vehicle state", {"state_topic": safety,
                                                          "value_template": _value("vehicle_state")}),
            ("button", "emergency_stop", "Emergency stop", {"command_topic": topics.set(EMERGENCY_STOP_ID),
                                                            "payload_press": "PRESS"}),
        ]
        return [Announcement(component, f"coach_{key}",
                             {**self._base(f"coach_{key}", name, availability), **extra})
                for component, key, name, extra in items]

    def all(self, entities: Iterable[EntityConfig]) -> list[Announcement]:
        """The coach-wide entities and every entity's."""
        found = self.for_coach()
        for config in entities:
            found.extend(self.for_entity(config))
        return found

    def config_topic(self, announcement: Announcement) -> str:
        """Where an announcement is published."""
        return self.topics.config(announcement.component, announcement.object_id)


def _light(config: EntityConfig, topics: Topics) -> tuple[str, dict[str, Any]]:
    if not is_light(config):
        return _switch(config, topics)
    extra: dict[str, Any] = {"schema": "json", "command_topic": topics.set(config.id)}
    if config.device == "dimmer":
        extra.update(supported_color_modes=["brightness"], brightness_scale=100)
    else:
        extra["supported_color_modes"] = ["onoff"]
    return "light", extra


def _switch(config: EntityConfig, topics: Topics) -> tuple[str, dict[str, Any]]:
    return "switch", {"command_topic": topics.set(config.id), "value_template": _tpl("state"),
                      "payload_on": "ON", "payload_off": "OFF", "state_on": "ON", "state_off": "OFF"}


def _lock(config: EntityConfig, topics: Topics) -> tuple[str, dict[str, Any]]:
    return "lock", {"command_topic": topics.set(config.id), "value_template": _tpl("state"),
                    "payload_lock": "LOCK", "payload_unlock": "UNLOCK", "state_locked": "LOCKED",
                    "state_unlocked": "UNLOCKED"}


def _thermostat(config: EntityConfig, topics: Topics) -> tuple[str, dict[str, Any]]:
    state = topics.state(config.id)
    return "climate", {
        "modes": ["off", "cool", "heat", "heat_cool", "fan_only", "dry"],
        "mode_command_topic": topics.set(config.id, "mode"), "mode_state_topic": state,
        "mode_state_template": _tpl("mode"),
        "temperature_command_topic": topics.set(config.id, "temperature"), "temperature_state_topic": state,
        "temperature_state_template": _tpl("target"),
        "temperature_low_command_topic": topics.set(config.id, "temperature_low"),
        "temperature_low_state_topic": state, "temperature_low_state_template": _value("heat_setpoint"),
        "temperature_high_command_topic": topics.set(config.id, "temperature_high"),
        "temperature_high_state_topic": state, "temperature_high_state_template": _value("cool_setpoint"),
        "current_temperature_topic": state, "current_temperature_template": _tpl("current"),
        "fan_modes": ["auto", "low", "medium", "high"],
        "fan_mode_command_topic": topics.set(config.id, "fan_mode"), "fan_mode_state_topic": state,
        "fan_mode_state_template": _tpl("fan_mode"),
        "temperature_unit": "C", "min_temp": 5, "max_temp": 35, "temp_step": 0.5, "precision": 0.1}


def _furnace(config: EntityConfig, topics: Topics) -> tuple[str, dict[str, Any]]:
    state = topics.state(config.id)
    return "climate", {
        "modes": ["off", "heat"], "mode_command_topic": topics.set(config.id, "mode"), "mode_state_topic": state,
        "mode_state_template": _tpl("mode"), "fan_modes": ["low", "medium", "high"],
        "fan_mode_command_topic": topics.set(config.id, "fan_mode"), "fan_mode_state_topic": state,
        "fan_mode_state_template": _tpl("fan_mode"), "temperature_unit": "C"}


def _water_heater(config: EntityConfig, topics: Topics) -> tuple[str, dict[str, Any]]:
    state = topics.state(config.id)
    return "water_heater", {
        "modes": ["off", "gas", "electric", "performance", "eco"],
        "mode_command_topic": topics.set(config.id, "mode"), "mode_state_topic": state,
        "mode_state_template": _tpl("mode"),
        "temperature_command_topic": topics.set(config.id, "temperature"), "temperature_state_topic": state,
        "temperature_state_template": _value("setpoint"),
        "current_temperature_topic": state, "current_temperature_template": _value("water_temperature"),
        "temperature_unit": "C", "min_temp": 30, "max_temp": 75, "precision": 0.1}


def _fan(config: EntityConfig, topics: Topics) -> tuple[str, dict[str, Any]]:
    state = topics.state(config.id)
    return "fan", {
        "command_topic": topics.set(config.id), "state_value_template": _tpl("state"),
        "payload_on": "ON", "payload_off": "OFF",
        "percentage_command_topic": topics.set(config.id, "percentage"), "percentage_state_topic": state,
        "percentage_value_template": _tpl("percentage"),
        "preset_modes": ["auto"], "preset_mode_command_topic": topics.set(config.id, "preset_mode"),
        "preset_mode_state_topic": state, "preset_mode_value_template": _tpl("preset")}


def _cover(config: EntityConfig, topics: Topics) -> tuple[str, dict[str, Any]]:
    extra: dict[str, Any] = {
        "command_topic": topics.set(config.id), "value_template": _tpl("state"),
        "payload_open": "OPEN", "payload_close": "CLOSE", "payload_stop": "STOP",
        "state_opening": "opening", "state_closing": "closing", "state_stopped": "stopped", "optimistic": False}
    device_class = _COVER_CLASSES.get(config.type)
    if device_class:
        extra["device_class"] = device_class
    if config.device == "awning":
        extra.update(position_topic=topics.state(config.id), position_template=_value("position"),
                     position_open=100, position_closed=0)
    return "cover", extra


_MAIN: Mapping[str, Callable[[EntityConfig, Topics], tuple[str, dict[str, Any]]]] = {
    "dimmer": _light, "relay": _light, "ac_load": _switch, "water_pump": _switch, "inverter": _switch,
    "generator": _switch, "lock": _lock, "thermostat": _thermostat, "furnace": _furnace,
    "water_heater": _water_heater, "roof_fan": _fan, "motor_pair": _cover, "awning": _cover, "shade": _cover,
}
