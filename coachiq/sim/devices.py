"""The device lists of the simulated coaches: plain data, shared with the coach mapping files.

Each `SimDevice` is one thing an owner sees (a light, a tank, a slide): the node that plays it on the
bus (source address), the RV-C instance(s) it uses, the status DGNs it broadcasts and the command DGN it
obeys. The mapping files in coachiq/entities/coaches/ describe the same devices from the server's side,
so changes here must be mirrored there; keep entity ids, instances and addresses stable.

Conventions used by the simulated nodes:
- Source addresses are below 0x80, so they never meet the server's self-configurable range (0x80-0xF7,
  where it claims 0x8C).
- DC dimmer and relay outputs, slide and jack motors are outputs of DC_DIMMER_STATUS_3 / COMMAND_2;
  their instances are unique across the coach because DC_DIMMER_COMMAND_2 is a broadcast.
- Leveling is one hydraulic leveling controller (LEVELING_* DGNs, RV-C 6.13) with four jacks and a level
  sensor. The document's default addresses (0x51-0x53) are taken here by the water heater and the
  thermostats, so it plays at 0x68.
- A motor pair (slide) has an extend output and a retract output. Energising one runs the motor;
  the output drops by itself at the end of travel (limit switch) or when its command duration expires.
- DC_DIMMER_COMMAND_2's ramp_time is the time of the whole change, in seconds (0 or not available: the
  dimmer's own ramp, 2 s from 0 to 100 %).
- Tanks use the RV-C instance convention: 0 fresh, 1 black, 2 grey, 3 LPG. DC sources: 1 house bank,
  2 chassis start battery.
- Devices without an instance field in their DGNs (water pump, generator, chassis) have instance None.
- The transfer switch broadcasts ATS_AC_STATUS_1 three times per period, all with its instance: the
  shore input (direction input, source secondary), the generator input (direction input, source
  primary, as RV-C 6.32.2 suggests) and its output (direction output, source = the input in use). An input without power
  reports 0 V.
- Shades: "forward" raises (opens) the shade, "reverse" lowers (closes) it, as RV-C defines them.
- Thermostat zones and furnaces: a furnace serves the thermostat zone with the same instance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = ["COACHES", "DeviceKind", "SimDevice", "devices_for"]


class DeviceKind(StrEnum):
    """What a simulated device behaves like; each maps to one entity type of the server."""

    DIMMER = "dimmer"  # entity type light, dimmable
    RELAY_LIGHT = "relay_light"  # entity type light, on/off
    RELAY = "relay"  # entity type switch (DC relay load)
    AC_LOAD = "ac_load"  # entity type switch (AC load)
    LOCK = "lock"
    TANK = "tank"
    BATTERY = "battery"
    CHARGER = "charger"
    INVERTER = "inverter"
    TRANSFER_SWITCH = "transfer_switch"
    THERMOSTAT = "thermostat"  # with its air conditioner (AIR_CONDITIONER_STATUS, same instance)
    FURNACE = "furnace"
    WATER_HEATER = "water_heater"
    WATER_PUMP = "water_pump"
    ROOF_FAN = "roof_fan"
    GENERATOR = "generator"
    SLIDE = "slide"  # motor pair on two DC relay outputs
    AWNING = "awning"
    LEVELING = "leveling"  # leveling controller: entity type jack
    SHADE = "shade"
    CHASSIS = "chassis"
    FIREFLY_DIMMER = "firefly_dimmer"  # entity type light, dimmable, on a Firefly multiplex system
    FIREFLY_PAIR = "firefly_pair"  # an awning or shade as two Firefly DC loads (extend, retract)


@dataclass(frozen=True, slots=True)
class SimDevice:
    """One simulated device and how it appears on the bus.

    entity_id:        "<type>.<snake_name>", the id the server's mapping gives it
    instance:         the RV-C instance of its status and command DGNs (None: the DGNs have none)
    extend_instance / retract_instance: the two relay outputs of a motor pair (slide)
    status_dgns:      what the node broadcasts for this device, by DGN name
    command_dgn:      the DGN it obeys (None: read-only)
    group:            DC dimmer group byte the node reports (0xFF: no group)
    travel_s:         motor pairs and awnings: full travel time from one limit to the other
    capacity_l:       tanks: size in litres
    """

    kind: DeviceKind
    entity_id: str
    name: str
    area: str
    source_address: int
    instance: int | None
    status_dgns: tuple[str, ...]
    command_dgn: str | None
    extend_instance: int | None = None
    retract_instance: int | None = None
    group: int = 0xFF
    travel_s: float | None = None
    capacity_l: int | None = None
    params: Mapping[str, object] = field(default_factory=dict)

    @property
    def entity_type(self) -> str:
        """The entity type, the part of the id before the dot."""
        return self.entity_id.split(".", 1)[0]


# --- node source addresses (one node may play several devices) --------------------------------------
LIGHTING_NODE = 0x60  # DC dimmer module: dimmable and relay lights
RELAY_NODE = 0x61  # DC relay module: switched loads, slide and jack motors
AC_LOAD_NODE = 0x62
LOCK_NODE = 0x63
SHADE_NODE = 0x64
AWNING_NODE = 0x65
ROOF_FAN_NODE = 0x66
WATER_PUMP_NODE = 0x67
LEVELING_NODE = 0x68  # leveling controller (the document's 0x51-0x53 are taken in this coach)
TANK_NODE = 0x48
HOUSE_BATTERY_NODE = 0x49
CHASSIS_BATTERY_NODE = 0x4A
INVERTER_CHARGER_NODE = 0x42
TRANSFER_SWITCH_NODE = 0x43
GENERATOR_NODE = 0x40
FURNACE_NODE = 0x50
WATER_HEATER_NODE = 0x51
THERMOSTAT_NODES = (0x52, 0x53)
CHASSIS_NODE = 0x47

_DIMMER = ("DC_DIMMER_STATUS_3",)
_DIMMER_CMD = "DC_DIMMER_COMMAND_2"
_SLIDE_TRAVEL_S = 12.0
_AWNING_TRAVEL_S = 15.0


def _light(slug: str, name: str, area: str, instance: int, dimmable: bool) -> SimDevice:
    return SimDevice(DeviceKind.DIMMER if dimmable else DeviceKind.RELAY_LIGHT, f"light.{slug}", name, area,
                     LIGHTING_NODE, instance, _DIMMER, _DIMMER_CMD)


def _relay(slug: str, name: str, area: str, instance: int) -> SimDevice:
    return SimDevice(DeviceKind.RELAY, f"switch.{slug}", name, area, RELAY_NODE, instance, _DIMMER, _DIMMER_CMD)


def _motor_pair(kind: DeviceKind, slug: str, name: str, area: str, extend: int, retract: int,
                travel_s: float) -> SimDevice:
    return SimDevice(kind, f"slide.{slug}", name, area, RELAY_NODE, None, _DIMMER, _DIMMER_CMD,
                     extend_instance=extend, retract_instance=retract, travel_s=travel_s)


def _tank(slug: str, name: str, instance: int, capacity_l: int) -> SimDevice:
    return SimDevice(DeviceKind.TANK, f"tank.{slug}", name, "utility", TANK_NODE, instance, ("TANK_STATUS",),
                     None, capacity_l=capacity_l)


def _battery(slug: str, name: str, area: str, address: int, instance: int) -> SimDevice:
    return SimDevice(DeviceKind.BATTERY, f"battery.{slug}", name, area, address, instance,
                     ("DC_SOURCE_STATUS_1", "DC_SOURCE_STATUS_2"), None)


def _thermostat(slug: str, name: str, area: str, instance: int, address: int) -> SimDevice:
    return SimDevice(DeviceKind.THERMOSTAT, f"thermostat.{slug}", name, area, address, instance,
                     ("THERMOSTAT_STATUS_1", "THERMOSTAT_AMBIENT_STATUS", "AIR_CONDITIONER_STATUS"),
                     "THERMOSTAT_COMMAND_1")


def _common_tail(awning_instance: int) -> list[SimDevice]:
    """Devices every simulated coach has, whatever its size."""
    return [
        SimDevice(DeviceKind.AWNING, "awning.patio", "Patio awning", "exterior", AWNING_NODE, awning_instance,
                  ("AWNING_STATUS",), "AWNING_COMMAND", travel_s=_AWNING_TRAVEL_S),
        SimDevice(DeviceKind.LOCK, "lock.entry_door", "Entry door", "exterior", LOCK_NODE, 1, ("DOOR_STATUS",),
                  "DOOR_COMMAND"),
        SimDevice(DeviceKind.WATER_PUMP, "pump.fresh_water", "Fresh water pump", "utility", WATER_PUMP_NODE,
                  None, ("WATER_PUMP_STATUS",), "WATER_PUMP_COMMAND"),
        SimDevice(DeviceKind.WATER_HEATER, "water_heater.main", "Water heater", "utility", WATER_HEATER_NODE,
                  1, ("WATERHEATER_STATUS",), "WATERHEATER_COMMAND"),
        SimDevice(DeviceKind.FURNACE, "furnace.main", "Furnace", "living_room", FURNACE_NODE, 1,
                  ("FURNACE_STATUS",), "FURNACE_COMMAND"),
        SimDevice(DeviceKind.ROOF_FAN, "fan.bathroom", "Bathroom roof fan", "bathroom", ROOF_FAN_NODE, 1,
                  ("ROOF_FAN_STATUS_1",), "ROOF_FAN_COMMAND_1"),
        SimDevice(DeviceKind.CHARGER, "charger.main", "Charger", "utility", INVERTER_CHARGER_NODE, 1,
                  ("CHARGER_STATUS",), "CHARGER_COMMAND"),
        SimDevice(DeviceKind.TRANSFER_SWITCH, "transfer_switch.main", "Transfer switch", "utility",
                  TRANSFER_SWITCH_NODE, 1, ("ATS_AC_STATUS_1",), None,
                  params={"shore_source": "secondary", "generator_source": "primary"}),
        _tank("fresh", "Fresh water", 0, 380),
        _tank("black", "Black water", 1, 170),
        _tank("grey", "Grey water", 2, 250),
        _battery("house", "House battery", "utility", HOUSE_BATTERY_NODE, 1),
        SimDevice(DeviceKind.CHASSIS, "chassis.main", "Chassis", "cab", CHASSIS_NODE, None,
                  ("CHASSIS_MOBILITY_STATUS",), None),
    ]


def _class_a_diesel() -> tuple[SimDevice, ...]:
    lights = [
        _light("living_room_ceiling", "Living room ceiling", "living_room", 1, True),
        _light("living_room_accent", "Living room accent", "living_room", 2, True),
        _light("galley_ceiling", "Galley ceiling", "galley", 3, True),
        _light("galley_under_cabinet", "Galley under-cabinet", "galley", 4, False),
        _light("bedroom_ceiling", "Bedroom ceiling", "bedroom", 5, True),
        _light("bedroom_reading_left", "Bedroom reading left", "bedroom", 6, True),
        _light("bedroom_reading_right", "Bedroom reading right", "bedroom", 7, True),
        _light("bathroom_ceiling", "Bathroom ceiling", "bathroom", 8, True),
        _light("bathroom_vanity", "Bathroom vanity", "bathroom", 9, False),
        _light("cab_dome", "Cab dome", "cab", 10, False),
        _light("entry_step", "Entry step", "exterior", 11, False),
        _light("porch", "Porch", "exterior", 12, False),
    ]
    switches = [
        _relay("water_heater_gas", "Water heater gas valve", "utility", 20),
        _relay("tank_heaters", "Tank heaters", "utility", 21),
        SimDevice(DeviceKind.AC_LOAD, "switch.block_heater", "Engine block heater", "utility", AC_LOAD_NODE, 1,
                  ("AC_LOAD_STATUS",), "AC_LOAD_COMMAND"),
        SimDevice(DeviceKind.AC_LOAD, "switch.washer_dryer", "Washer-dryer", "bedroom", AC_LOAD_NODE, 2,
                  ("AC_LOAD_STATUS",), "AC_LOAD_COMMAND"),
    ]
    slides = [
        _motor_pair(DeviceKind.SLIDE, "living_room", "Living room slide", "living_room", 40, 41, _SLIDE_TRAVEL_S),
        _motor_pair(DeviceKind.SLIDE, "galley", "Galley slide", "galley", 42, 43, _SLIDE_TRAVEL_S),
        _motor_pair(DeviceKind.SLIDE, "bedroom", "Bedroom slide", "bedroom", 44, 45, _SLIDE_TRAVEL_S),
        _motor_pair(DeviceKind.SLIDE, "bedroom_wardrobe", "Bedroom wardrobe slide", "bedroom", 46, 47,
                    _SLIDE_TRAVEL_S),
    ]
    jacks = [
        SimDevice(DeviceKind.LEVELING, "jack.leveling", "Leveling jacks", "exterior", LEVELING_NODE, None,
                  ("LEVELING_CONTROL_STATUS", "LEVELING_JACK_STATUS", "LEVELING_SENSOR_STATUS"),
                  "LEVELING_CONTROL_COMMAND"),
    ]
    extras = [
        _thermostat("front", "Front zone", "living_room", 1, THERMOSTAT_NODES[0]),
        _thermostat("rear", "Rear zone", "bedroom", 2, THERMOSTAT_NODES[1]),
        SimDevice(DeviceKind.GENERATOR, "generator.main", "Generator", "exterior", GENERATOR_NODE, None,
                  ("GENERATOR_STATUS_1",), "GENERATOR_COMMAND", params={"start_delay_s": 3.0, "stop_delay_s": 1.0}),
        SimDevice(DeviceKind.INVERTER, "inverter.main", "Inverter", "utility", INVERTER_CHARGER_NODE, 1,
                  ("INVERTER_STATUS",), "INVERTER_COMMAND"),
        SimDevice(DeviceKind.SHADE, "shade.windshield", "Windshield shade", "cab", SHADE_NODE, 1,
                  ("WINDOW_SHADE_CONTROL_STATUS",), "WINDOW_SHADE_CONTROL_COMMAND", travel_s=10.0),
        SimDevice(DeviceKind.SHADE, "shade.living_room", "Living room shade", "living_room", SHADE_NODE, 2,
                  ("WINDOW_SHADE_CONTROL_STATUS",), "WINDOW_SHADE_CONTROL_COMMAND", travel_s=8.0),
        SimDevice(DeviceKind.ROOF_FAN, "fan.galley", "Galley roof fan", "galley", ROOF_FAN_NODE, 2,
                  ("ROOF_FAN_STATUS_1",), "ROOF_FAN_COMMAND_1"),
        _tank("lpg", "LPG", 3, 110),
        _battery("chassis", "Chassis battery", "cab", CHASSIS_BATTERY_NODE, 2),
    ]
    return (*lights, *switches, *slides, *jacks, *extras, *_common_tail(awning_instance=1))


def _travel_trailer() -> tuple[SimDevice, ...]:
    lights = [
        _light("living_room_ceiling", "Living room ceiling", "living_room", 1, True),
        _light("galley_ceiling", "Galley ceiling", "galley", 3, True),
        _light("bedroom_ceiling", "Bedroom ceiling", "bedroom", 5, True),
        _light("bathroom_ceiling", "Bathroom ceiling", "bathroom", 8, False),
        _light("porch", "Porch", "exterior", 12, False),
    ]
    extras = [
        _relay("tank_heaters", "Tank heaters", "utility", 21),
        _motor_pair(DeviceKind.SLIDE, "living_room", "Living room slide", "living_room", 40, 41, _SLIDE_TRAVEL_S),
        _thermostat("main", "Main zone", "living_room", 1, THERMOSTAT_NODES[0]),
        SimDevice(DeviceKind.INVERTER, "inverter.main", "Inverter", "utility", INVERTER_CHARGER_NODE, 1,
                  ("INVERTER_STATUS",), "INVERTER_COMMAND"),
    ]
    return (*lights, *extras, *_common_tail(awning_instance=1))


def _firefly_coach() -> tuple[SimDevice, ...]:
    # Instances after public owner notes: a Firefly coach's awning on DC loads 24 (extend) and 25 (retract).
    lights = [SimDevice(DeviceKind.FIREFLY_DIMMER, f"light.{slug}", name, area, LIGHTING_NODE, instance, _DIMMER,
                        _DIMMER_CMD) for slug, name, area, instance in (
        ("living_room", "Living room", "living_room", 17), ("galley", "Galley", "galley", 18),
        ("bedroom", "Bedroom", "bedroom", 19))]

    def pair(entity_id: str, name: str, area: str, extend: int, retract: int, travel_s: float) -> SimDevice:
        return SimDevice(DeviceKind.FIREFLY_PAIR, entity_id, name, area, RELAY_NODE, None, _DIMMER, _DIMMER_CMD,
                         extend_instance=extend, retract_instance=retract, travel_s=travel_s)

    pairs = [pair("awning.patio", "Patio awning", "exterior", 24, 25, _AWNING_TRAVEL_S),
             pair("shade.windshield", "Windshield shade", "cab", 30, 31, 10.0),
             pair("shade.living_room", "Living room shade", "living_room", 32, 33, 8.0)]
    chassis = SimDevice(DeviceKind.CHASSIS, "chassis.main", "Chassis", "cab", CHASSIS_NODE, None,
                        ("CHASSIS_MOBILITY_STATUS",), None)
    return (*lights, *pairs, _tank("fresh", "Fresh water", 0, 300), chassis)


COACHES: Mapping[str, tuple[SimDevice, ...]] = {
    "class_a_diesel": _class_a_diesel(),
    "travel_trailer": _travel_trailer(),
    "firefly_coach": _firefly_coach(),
}


def devices_for(coach: str) -> tuple[SimDevice, ...]:
    """The devices of a simulated coach; ValueError naming the known coaches when `coach` is unknown."""
    try:
        return COACHES[coach]
    except KeyError:
        raise ValueError(f"unknown simulated coach {coach!r}: choose one of {', '.join(sorted(COACHES))}") from None
