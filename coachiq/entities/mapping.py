"""Coach mapping files: which RV-C device (family, instance, source) is which entity of the coach.

A mapping file is YAML (format in docs/coach-mapping.md). Shipped coaches live in
coachiq/entities/coaches/; `settings.coach` picks one and `settings.coach_file` extends or overrides it
by entity id. Validation collects every problem with `file:line` before anything starts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coachiq.core.errors import ConfigError
from coachiq.core.yamlfile import LocatedYaml, YamlFileError, load_located
from coachiq.entities.model import Command, EntityType

COACHES_DIR = Path(__file__).parent / "coaches"

_ID = re.compile(r"^([a-z][a-z0-9_]*)\.([a-z0-9][a-z0-9_]*)$")
_SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
MAX_MOTION_S = 60.0  # the longest any motion command may run before it must be renewed


@dataclass(frozen=True, slots=True)
class DeviceFamily:
    """How one kind of RV-C device is read and commanded."""

    name: str
    types: tuple[EntityType, ...]  # entity types this family can play; the first is the default
    status_dgns: tuple[str, ...]
    command_dgn: str | None
    commands: frozenset[str]
    stale_s: float = 15.0  # default: devices broadcast every 1-5 s, so three missed broadcasts or more


def _cmds(*names: Command) -> frozenset[str]:
    return frozenset(str(n) for n in names)


C = Command
_DIMMER_STATUS, _DIMMER_COMMAND = ("DC_DIMMER_STATUS_3",), "DC_DIMMER_COMMAND_2"
_MOTION = _cmds(C.EXTEND, C.RETRACT, C.STOP)

FAMILIES: Mapping[str, DeviceFamily] = {f.name: f for f in (
    DeviceFamily("dimmer", (EntityType.LIGHT,), _DIMMER_STATUS, _DIMMER_COMMAND,
                 _cmds(C.TURN_ON, C.TURN_OFF, C.TOGGLE, C.SET_BRIGHTNESS, C.RAMP_UP, C.RAMP_DOWN, C.STOP)),
    DeviceFamily("relay", (EntityType.SWITCH, EntityType.LIGHT), _DIMMER_STATUS, _DIMMER_COMMAND,
                 _cmds(C.TURN_ON, C.TURN_OFF, C.TOGGLE)),
    DeviceFamily("ac_load", (EntityType.SWITCH,), ("AC_LOAD_STATUS",), "AC_LOAD_COMMAND",
                 _cmds(C.TURN_ON, C.TURN_OFF, C.TOGGLE)),
    DeviceFamily("lock", (EntityType.LOCK,), ("DOOR_STATUS",), "DOOR_COMMAND", _cmds(C.LOCK, C.UNLOCK)),
    DeviceFamily("tank", (EntityType.TANK,), ("TANK_STATUS",), None, frozenset(), stale_s=5.0),
    DeviceFamily("dc_source", (EntityType.BATTERY,), ("DC_SOURCE_STATUS_1", "DC_SOURCE_STATUS_2"), None,
                 frozenset(), stale_s=5.0),
    DeviceFamily("charger", (EntityType.CHARGER,), ("CHARGER_STATUS",), "CHARGER_COMMAND",
                 _cmds(C.ENABLE, C.DISABLE)),
    DeviceFamily("inverter", (EntityType.INVERTER,), ("INVERTER_STATUS",), "INVERTER_COMMAND",
                 _cmds(C.ENABLE, C.DISABLE)),
    DeviceFamily("transfer_switch", (EntityType.TRANSFER_SWITCH,), ("ATS_AC_STATUS_1",), None, frozenset()),
    DeviceFamily("thermostat", (EntityType.THERMOSTAT,),
                 ("THERMOSTAT_STATUS_1", "THERMOSTAT_AMBIENT_STATUS", "AIR_CONDITIONER_STATUS"),
                 "THERMOSTAT_COMMAND_1", _cmds(C.SET_MODE, C.SET_SETPOINT, C.SET_FAN, C.TURN_OFF)),
    DeviceFamily("furnace", (EntityType.FURNACE,), ("FURNACE_STATUS",), "FURNACE_COMMAND",
                 _cmds(C.TURN_ON, C.TURN_OFF, C.SET_MODE, C.SET_FAN)),
    DeviceFamily("water_heater", (EntityType.WATER_HEATER,), ("WATERHEATER_STATUS",), "WATERHEATER_COMMAND",
                 _cmds(C.TURN_ON, C.TURN_OFF, C.SET_MODE, C.SET_SETPOINT)),
    DeviceFamily("water_pump", (EntityType.PUMP,), ("WATER_PUMP_STATUS",), "WATER_PUMP_COMMAND",
                 _cmds(C.ENABLE, C.DISABLE, C.TURN_ON, C.TURN_OFF)),
    DeviceFamily("roof_fan", (EntityType.FAN,), ("ROOF_FAN_STATUS_1",), "ROOF_FAN_COMMAND_1",
                 _cmds(C.TURN_ON, C.TURN_OFF, C.SET_FAN)),
    DeviceFamily("generator", (EntityType.GENERATOR,), ("GENERATOR_STATUS_1",), "GENERATOR_COMMAND",
                 _cmds(C.START, C.STOP)),
    # Awnings and shades also come as two DC loads (extend, retract) on multiplex systems such as Firefly.
    DeviceFamily("motor_pair", (EntityType.SLIDE, EntityType.JACK, EntityType.AWNING, EntityType.SHADE), _DIMMER_STATUS,
                 _DIMMER_COMMAND, _MOTION),
    DeviceFamily("awning", (EntityType.AWNING,), ("AWNING_STATUS",), "AWNING_COMMAND", _MOTION),
    DeviceFamily("shade", (EntityType.SHADE,), ("WINDOW_SHADE_CONTROL_STATUS",), "WINDOW_SHADE_CONTROL_COMMAND",
                 _MOTION),
    DeviceFamily("leveling", (EntityType.JACK,),
                 ("LEVELING_CONTROL_STATUS", "LEVELING_JACK_STATUS", "LEVELING_SENSOR_STATUS"),
                 "LEVELING_CONTROL_COMMAND",
                 _cmds(C.AUTO_LEVEL, C.RETRACT_ALL, C.EXTEND, C.RETRACT, C.STOP, C.CLEAR_ERROR), stale_s=5.0),
    DeviceFamily("chassis", (EntityType.CHASSIS,), ("CHASSIS_MOBILITY_STATUS",), None, frozenset(), stale_s=5.0),
)}

# The family an entity type uses when the mapping names none.
DEFAULT_FAMILY: Mapping[EntityType, str] = {
    EntityType.LIGHT: "dimmer", EntityType.SWITCH: "relay", EntityType.LOCK: "lock", EntityType.TANK: "tank",
    EntityType.BATTERY: "dc_source", EntityType.CHARGER: "charger", EntityType.INVERTER: "inverter",
    EntityType.TRANSFER_SWITCH: "transfer_switch", EntityType.THERMOSTAT: "thermostat",
    EntityType.FURNACE: "furnace", EntityType.WATER_HEATER: "water_heater", EntityType.PUMP: "water_pump",
    EntityType.FAN: "roof_fan", EntityType.GENERATOR: "generator", EntityType.SLIDE: "motor_pair",
    EntityType.JACK: "motor_pair", EntityType.AWNING: "awning", EntityType.SHADE: "shade",
    EntityType.CHASSIS: "chassis",
}

# Families whose DGNs have no instance field: the mapping must leave `instance` out.
NO_INSTANCE = frozenset({"water_pump", "generator", "chassis", "motor_pair"})
# Families whose instance is optional: a leveling system's `instance` is its level sensor's, left out for
# a single-sensor system (the sensor then reports 255, "no instance").
OPTIONAL_INSTANCE = frozenset({"leveling"})

_KEYS = {"id", "name", "area", "type", "device", "instance", "source_address", "group", "stale_s",
         "capabilities", "extend_instance", "retract_instance", "max_duration_s", "on_mode"}
_TOP_KEYS = {"coach", "description", "defaults", "entities", "remove"}
_DEFAULT_KEYS = {"stale_s", "max_duration_s"}
_WATER_HEATER_MODES = ("combustion", "electric", "gas_electric", "automatic")


@dataclass(frozen=True, slots=True)
class EntityConfig:
    """One entity as the mapping defines it."""

    id: str
    name: str
    type: EntityType
    area: str
    device: str
    instance: int | None
    status_dgns: tuple[str, ...]
    command_dgn: str | None
    capabilities: frozenset[str]
    source_address: int | None = None
    group: int | None = None
    stale_s: float = 15.0
    extend_instance: int | None = None
    retract_instance: int | None = None
    max_duration_s: float = 30.0
    on_mode: str = "gas_electric"
    origin: str = ""  # file:line it came from, for messages

    @property
    def status_instances(self) -> tuple[int | None, ...]:
        """The instances this entity's status frames carry (two for a motor pair or a leveling system)."""
        if self.device == "motor_pair":
            return (self.extend_instance, self.retract_instance)
        if self.device == "leveling" and self.instance is not None:
            return (None, self.instance)  # controller statuses carry none; the level sensor carries its own
        return (self.instance,)

    def to_json(self) -> dict[str, Any]:
        """The configuration as plain data (for the API and `coachiq unmapped`)."""
        data: dict[str, Any] = {"id": self.id, "name": self.name, "type": str(self.type), "area": self.area,
                                "device": self.device, "instance": self.instance,
                                "status_dgns": list(self.status_dgns), "command_dgn": self.command_dgn,
                                "capabilities": sorted(self.capabilities)}
        for key in ("source_address", "group", "extend_instance", "retract_instance"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data


@dataclass
class CoachMapping:
    """A coach: its name and its entities by id, in file order."""

    coach: str
    description: str = ""
    entities: dict[str, EntityConfig] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # ids a user file takes out of the coach it extends


def shipped_coaches() -> list[str]:
    """Names of the coach mappings shipped with CoachIQ."""
    return sorted(p.stem for p in COACHES_DIR.glob("*.yaml"))


def coach_path(coach: str) -> Path:
    """The shipped mapping file of `coach`; ConfigError naming the known ones when there is none."""
    path = COACHES_DIR / f"{coach}.yaml"
    if not _SNAKE.match(coach) or not path.is_file():
        raise ConfigError([f"unknown coach {coach!r}: choose one of {', '.join(shipped_coaches())} "
                           "(setting coach / COACHIQ_COACH), or describe yours in a file given by coach_file"],
                          source="settings")
    return path


def load_coach(coach: str, user_file: Path | None = None) -> CoachMapping:
    """The shipped coach `coach`, extended or overridden by `user_file`; ConfigError lists every problem."""
    mapping = load_mapping_file(coach_path(coach), require_coach=True)
    if user_file is not None:
        overlay = load_mapping_file(user_file, require_coach=False, base=mapping)
        mapping = merge(mapping, overlay)
    return mapping


def merge(base: CoachMapping, overlay: CoachMapping) -> CoachMapping:
    """`base` with `overlay`'s entities added or replacing those with the same id, and its removals applied."""
    entities = {k: v for k, v in base.entities.items() if k not in overlay.removed}
    entities.update(overlay.entities)
    return CoachMapping(base.coach, overlay.description or base.description, entities, [*base.files, *overlay.files])


class _Checker:
    """Collects problems with file:line for one mapping file."""

    def __init__(self, located: LocatedYaml) -> None:
        self.located = located
        self.problems: list[str] = []

    def problem(self, keys: tuple[Any, ...], message: str) -> None:
        self.problems.append(f"{self.located.where(*keys)}: {message}")

    def integer(self, keys: tuple[Any, ...], value: Any, low: int, high: int, what: str) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.problem(keys, f"{what} must be an integer {low}..{high}, got {value!r}")
            return None
        return value

    def number(self, keys: tuple[Any, ...], value: Any, low: float, high: float, what: str) -> float | None:
        if isinstance(value, bool) or not isinstance(value, int | float) or not low < value <= high:
            self.problem(keys, f"{what} must be a number above {low:g} and at most {high:g}, got {value!r}")
            return None
        return float(value)


def load_mapping_file(path: Path, *, require_coach: bool = True, base: CoachMapping | None = None) -> CoachMapping:
    """Read and validate one mapping file; ConfigError lists every problem as `file:line: what is wrong`.

    `base` is the coach a user file extends: its entities may be referred to by `remove`, and entity
    ids it already has may be redefined.
    """
    try:
        located = load_located(path)
    except YamlFileError as exc:
        raise ConfigError([str(exc)], source=str(path)) from exc
    check = _Checker(located)
    data = located.data
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: expected a mapping with `coach` and `entities`"], source=str(path))
    for key in data:
        if key not in _TOP_KEYS:
            check.problem((key,), f"unknown key {key!r}; allowed: {', '.join(sorted(_TOP_KEYS))}")
    coach = data.get("coach", base.coach if base else None)
    if coach is None and require_coach:
        check.problem((), "`coach` is missing: give the coach a snake_case name")
    elif coach is not None and (not isinstance(coach, str) or not _SNAKE.match(coach)):
        check.problem(("coach",), f"`coach` must be a snake_case name, got {coach!r}")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        check.problem(("defaults",), "`defaults` must be a mapping (stale_s, max_duration_s)")
        defaults = {}
    for key in defaults:
        if key not in _DEFAULT_KEYS:
            check.problem(("defaults", key), f"unknown default {key!r}; allowed: {', '.join(sorted(_DEFAULT_KEYS))}")
    default_stale = defaults.get("stale_s")
    if default_stale is not None:
        default_stale = check.number(("defaults", "stale_s"), default_stale, 0, 3600, "stale_s")
    default_duration = defaults.get("max_duration_s")
    if default_duration is not None:
        default_duration = check.number(("defaults", "max_duration_s"), default_duration, 0, MAX_MOTION_S,
                                        "max_duration_s")
    items = data.get("entities", [])
    if items is None:
        items = []
    if not isinstance(items, list):
        check.problem(("entities",), "`entities` must be a list of entity entries")
        items = []
    entities: dict[str, EntityConfig] = {}
    for index, item in enumerate(items):
        config = _entity(check, ("entities", index), item, default_stale, default_duration)
        if config is None:
            continue
        if config.id in entities:
            check.problem(("entities", index, "id"), f"entity id {config.id!r} is defined twice in this file "
                          f"(first at {entities[config.id].origin})")
            continue
        entities[config.id] = config
    removed: list[str] = []
    remove = data.get("remove", [])
    if remove is not None and not (isinstance(remove, list) and all(isinstance(r, str) for r in remove)):
        check.problem(("remove",), "`remove` must be a list of entity ids")
    elif remove:
        for index, entity_id in enumerate(remove):
            if base is None:
                check.problem(("remove", index), "`remove` only makes sense in a file given by coach_file")
            elif entity_id not in base.entities:
                check.problem(("remove", index), f"cannot remove {entity_id!r}: the coach has no such entity")
            else:
                removed.append(entity_id)
    _check_outputs(check, entities, base, removed)
    if check.problems:
        raise ConfigError(check.problems, source=str(path))
    return CoachMapping(str(coach or ""), str(data.get("description") or ""), entities, [path], removed)


def _check_outputs(check: _Checker, entities: Mapping[str, EntityConfig], base: CoachMapping | None,
                   removed: Iterable[str]) -> None:
    """Two entities must not claim the same (family, instance, source) - their states would mix."""
    owners: dict[tuple[str, int | None, int | None], EntityConfig] = {}
    every = dict(base.entities) if base else {}
    for entity_id in removed:
        every.pop(entity_id, None)
    every.update(entities)
    for config in every.values():
        for dgn in config.status_dgns:
            for instance in config.status_instances:
                key = (dgn, instance, config.source_address)
                other = owners.get(key)
                if other is not None and other.id != config.id:
                    where = config.origin if config.id in entities else other.origin
                    check.problems.append(f"{where}: {config.id!r} and {other.id!r} both read {dgn} instance "
                                          f"{instance}; give them different instances or source addresses")
                else:
                    owners[key] = config


def _entity(check: _Checker, keys: tuple[Any, ...], item: Any, default_stale: float | None,
            default_duration: float | None) -> EntityConfig | None:
    if not isinstance(item, dict):
        check.problem(keys, "an entity entry must be a mapping with at least `id`")
        return None
    before = len(check.problems)
    for key in item:
        if key not in _KEYS:
            check.problem((*keys, key), f"unknown key {key!r}; allowed: {', '.join(sorted(_KEYS))}")
    entity_id = item.get("id")
    match = _ID.match(entity_id) if isinstance(entity_id, str) else None
    if match is None or not isinstance(entity_id, str):
        check.problem((*keys, "id") if "id" in item else keys,
                      f"`id` must look like '<type>.<snake_name>' (e.g. light.galley_ceiling), got {entity_id!r}")
        return None
    type_name = item.get("type", match.group(1))
    try:
        entity_type = EntityType(str(type_name))
    except ValueError:
        check.problem((*keys, "type") if "type" in item else (*keys, "id"),
                      f"unknown entity type {type_name!r}; known: {', '.join(t.value for t in EntityType)}")
        return None
    if type_name != match.group(1):
        check.problem((*keys, "type"), f"type {type_name!r} does not match the id prefix {match.group(1)!r}")
    device = item.get("device", DEFAULT_FAMILY[entity_type])
    family = FAMILIES.get(device) if isinstance(device, str) else None
    if family is None:
        check.problem((*keys, "device"), f"unknown device {device!r}; known: {', '.join(sorted(FAMILIES))}")
        return None
    if entity_type not in family.types:
        check.problem((*keys, "device"), f"a {device} cannot be a {entity_type.value}; it can be: "
                      f"{', '.join(t.value for t in family.types)}")
    name = item.get("name", match.group(2).replace("_", " ").capitalize())
    if not isinstance(name, str) or not name.strip():
        check.problem((*keys, "name"), f"`name` must be non-empty text, got {name!r}")
    area = item.get("area", "unassigned")
    if not isinstance(area, str) or not _SNAKE.match(area):
        check.problem((*keys, "area"), f"`area` must be a snake_case name, got {area!r}")
    instance = item.get("instance")
    extend = item.get("extend_instance")
    retract = item.get("retract_instance")
    if device == "motor_pair":
        for key in ("extend_instance", "retract_instance"):
            if item.get(key) is None:
                check.problem(keys, f"a motor pair needs `{key}` (the DC relay output that "
                              f"{'extends' if key.startswith('extend') else 'retracts'})")
            else:
                check.integer((*keys, key), item[key], 0, 250, key)
        if extend is not None and extend == retract:
            check.problem((*keys, "retract_instance"), "extend and retract must be different outputs")
        if instance is not None:
            check.problem((*keys, "instance"), "a motor pair has no `instance`: use extend_instance and "
                          "retract_instance")
    else:
        for key in ("extend_instance", "retract_instance"):
            if key in item:
                check.problem((*keys, key), f"`{key}` is only for motor pairs (device: motor_pair)")
        if device in NO_INSTANCE:
            if instance is not None:
                check.problem((*keys, "instance"), f"{family.status_dgns[0]} has no instance: leave it out")
        elif instance is None and device in OPTIONAL_INSTANCE:
            pass
        elif instance is None:
            check.problem(keys, f"`instance` is missing: the RV-C instance of its {family.status_dgns[0]}")
        else:
            high = 7 if device == "transfer_switch" else 250
            check.integer((*keys, "instance"), instance, 0, high, "instance")
    source = item.get("source_address")
    if source is not None:
        check.integer((*keys, "source_address"), source, 0, 253, "source_address")
    group = item.get("group")
    if group is not None:
        if family.command_dgn != _DIMMER_COMMAND:
            check.problem((*keys, "group"), "`group` applies to DC dimmer and relay outputs only")
        check.integer((*keys, "group"), group, 0, 255, "group")
    stale = item.get("stale_s", default_stale if default_stale is not None else family.stale_s)
    stale_s = check.number((*keys, "stale_s"), stale, 0, 3600, "stale_s")
    duration = item.get("max_duration_s", default_duration if default_duration is not None else 30.0)
    max_duration = check.number((*keys, "max_duration_s"), duration, 0, MAX_MOTION_S, "max_duration_s")
    if "max_duration_s" in item and Command.EXTEND not in family.commands:
        check.problem((*keys, "max_duration_s"), "`max_duration_s` is only for slides, jacks, awnings and shades")
    on_mode = item.get("on_mode", "gas_electric")
    if "on_mode" in item and device != "water_heater":
        check.problem((*keys, "on_mode"), "`on_mode` is only for water heaters")
    elif on_mode not in _WATER_HEATER_MODES:
        check.problem((*keys, "on_mode"), f"`on_mode` must be one of {', '.join(_WATER_HEATER_MODES)}")
    capabilities = family.commands
    if "capabilities" in item:
        wanted = item["capabilities"]
        if not isinstance(wanted, list) or not all(isinstance(c, str) for c in wanted):
            check.problem((*keys, "capabilities"), "`capabilities` must be a list of command names")
        else:
            extra = sorted(set(wanted) - family.commands)
            if extra:
                check.problem((*keys, "capabilities"), f"a {device} cannot do {', '.join(extra)}; it can do: "
                              f"{', '.join(sorted(family.commands)) or 'nothing (read-only)'}")
            capabilities = frozenset(wanted)
    if len(check.problems) > before:
        return None
    return EntityConfig(
        id=entity_id, name=str(name), type=entity_type, area=str(area), device=device, instance=instance,
        status_dgns=family.status_dgns, command_dgn=family.command_dgn, capabilities=capabilities,
        source_address=source, group=group, stale_s=stale_s or family.stale_s, extend_instance=extend,
        retract_instance=retract, max_duration_s=max_duration or 30.0, on_mode=str(on_mode),
        origin=check.located.where(*keys))
