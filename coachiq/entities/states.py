"""The shape of each entity's `state`: one pydantic model per device family, the contract of the API and page.

The keys of an entity's state depend on the device family that reports it (a dimmer has a brightness, a
relay does not), so there is one model per family; an entity type that several families can play (a
light is a dimmer or a relay) has one state model per family. Every key is always present: a value the
device has not reported yet, or reports as not available, is null. `blank` gives that starting state.

The models describe; they are not run on the update path. The tests validate every state the running
server produces against them (no key missing, none extra), and the OpenAPI document publishes them.

Enumerations come as the RV-C document's labels (snake_case); a value the document does not name comes
as its raw number, so such fields are `str | int`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from coachiq.entities.mapping import FAMILIES
from coachiq.entities.model import EntityType

__all__ = ["STATE_MODELS", "EntityStateModel", "blank", "device_types", "known_values"]

Motion = Literal["extending", "retracting", "stopped"]
Label = str | int  # an enumeration's label, or its raw number when the document names none


class EntityStateModel(BaseModel):
    """Base of the state models: every key required (null when unknown), no other key allowed.

    A running server reads only their field names (`blank`); their validators and serialisers are built
    when first used (the OpenAPI document, the tests), not at import."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class DimmerState(EntityStateModel):
    """A dimmable DC light (DC_DIMMER_STATUS_3)."""

    on: bool | None
    brightness: float | None = Field(description="Percent, 0-100.")


class RelayState(EntityStateModel):
    """A DC load switched on or off (DC_DIMMER_STATUS_3 of a relay output)."""

    on: bool | None


class AcLoadState(EntityStateModel):
    """An AC load (AC_LOAD_STATUS)."""

    on: bool | None
    level: float | None = Field(description="Operating level, percent.")
    current: float | None = Field(description="Amperes.")


class LockState(EntityStateModel):
    """A door lock (DOOR_STATUS)."""

    locked: bool | None


class TankState(EntityStateModel):
    """A tank (TANK_STATUS)."""

    level: float | None = Field(description="Percent full, 0-100.")
    volume_l: float | None = Field(description="Litres in the tank, when the sensor reports it.")
    capacity_l: float | None = Field(description="Litres the tank holds, when the sensor reports it.")


class DcSourceState(EntityStateModel):
    """A battery bank (DC_SOURCE_STATUS_1 and _2)."""

    voltage: float | None = Field(description="Volts.")
    current: float | None = Field(description="Amperes; negative while discharging.")
    state_of_charge: float | None = Field(description="Percent.")
    temperature: float | None = Field(description="Degrees Celsius.")
    time_remaining_min: float | None = Field(description="Minutes until empty at the present draw.")


class ChargerState(EntityStateModel):
    """A battery charger (CHARGER_STATUS)."""

    state: Label | None = Field(description="Operating state, e.g. bulk, absorption, float, disabled.")
    charging: bool | None
    voltage: float | None = Field(description="Charge voltage, volts.")
    current: float | None = Field(description="Charge current, amperes.")
    enabled_at_power_up: bool | None


class InverterState(EntityStateModel):
    """An inverter (INVERTER_STATUS)."""

    status: Label | None = Field(description="e.g. invert, ac_passthru, disabled, fault.")
    enabled: bool | None
    load_sense: bool | None
    pass_through: bool | None


class TransferSwitchState(EntityStateModel):
    """An automatic transfer switch (ATS_AC_STATUS_1, leg 1): output, generator and shore inputs."""

    output_voltage: float | None
    output_current: float | None
    output_frequency: float | None
    generator_voltage: float | None
    generator_current: float | None
    generator_frequency: float | None
    shore_voltage: float | None
    shore_current: float | None
    shore_frequency: float | None


class ThermostatState(EntityStateModel):
    """A thermostat zone (THERMOSTAT_STATUS_1, THERMOSTAT_AMBIENT_STATUS, AIR_CONDITIONER_STATUS)."""

    mode: Label | None = Field(description="e.g. off, cool, heat, auto_heat_cool, fan_only.")
    fan_mode: Label | None = Field(description="auto or on.")
    fan_speed: float | None = Field(description="Percent.")
    heat_setpoint: float | None = Field(description="Degrees Celsius.")
    cool_setpoint: float | None = Field(description="Degrees Celsius.")
    ambient_temperature: float | None = Field(description="Degrees Celsius.")
    ac_output_level: float | None = Field(description="Air conditioner output, percent.")
    ac_fan_speed: float | None = Field(description="Air conditioner fan, percent.")


class FurnaceState(EntityStateModel):
    """A furnace (FURNACE_STATUS)."""

    on: bool | None
    mode: Label | None
    heat_output: float | None = Field(description="Percent.")
    fan_speed: float | None = Field(description="Circulation fan, percent.")


class WaterHeaterState(EntityStateModel):
    """A water heater (WATERHEATER_STATUS)."""

    on: bool | None
    mode: Label | None = Field(description="off, combustion, electric, gas_electric, automatic, ...")
    setpoint: float | None = Field(description="Degrees Celsius.")
    water_temperature: float | None = Field(description="Degrees Celsius.")
    burner_lit: bool | None
    electric_active: bool | None


class WaterPumpState(EntityStateModel):
    """The fresh water pump (WATER_PUMP_STATUS)."""

    enabled: bool | None
    on: bool | None = Field(description="The same as enabled: the pump runs on demand while enabled.")
    running: bool | None
    city_water: bool | None = Field(description="City water connected.")


class RoofFanState(EntityStateModel):
    """A roof vent fan (ROOF_FAN_STATUS_1)."""

    on: bool | None
    fan_speed: float | None = Field(description="Percent.")
    fan_mode: Label | None
    dome: Label | None = Field(description="Dome position.")
    air_direction: Label | None


class GeneratorState(EntityStateModel):
    """The generator (GENERATOR_STATUS_1)."""

    status: Label | None = Field(description="e.g. stopped, preheat, cranking, running, priming, fault.")
    running: bool | None
    run_time_min: float | None = Field(description="Engine run time, minutes.")
    load: float | None = Field(description="Engine load, percent.")
    start_battery_voltage: float | None = Field(description="Volts.")


class MotorPairState(EntityStateModel):
    """A slide, awning or shade driven by two DC outputs, one to extend and one to retract."""

    extend_active: bool | None
    retract_active: bool | None
    motion: Motion | None


class AwningState(EntityStateModel):
    """An awning with its own controller (AWNING_STATUS)."""

    motion: Label | None = Field(description="extending, retracting or stopped.")
    position: float | None = Field(description="Percent extended.")


class ShadeState(EntityStateModel):
    """A window shade (WINDOW_SHADE_CONTROL_STATUS); extending lowers (closes) it."""

    motion: Motion | None
    motor_duty: float | None = Field(description="Percent.")


class LevelingJack(EntityStateModel):
    """One leveling jack."""

    motion: Motion | None
    extended: bool | None
    grounded: bool | None = Field(description="Bearing weight.")


class Jacks(EntityStateModel):
    """The four corners of a leveling system."""

    left_front: LevelingJack
    right_front: LevelingJack
    left_rear: LevelingJack
    right_rear: LevelingJack


class LevelingState(EntityStateModel):
    """A leveling system (LEVELING_CONTROL_STATUS, LEVELING_JACK_STATUS, LEVELING_SENSOR_STATUS)."""

    mode: Label | None = Field(description="The controller's operating mode.")
    motion: Motion | None
    jacks: Jacks | None
    lockouts: list[Literal["park_brake", "ignition", "low_voltage", "other"]] | None = Field(
        description="What the controller itself refuses to level for.")
    warnings: list[Literal["excessive_slope_initial", "excessive_slope_final", "master"]] | None
    stored: bool | None = Field(description="Every jack reports retracted.")
    jack_count: int | None
    pitch: float | None = Field(description="Degrees.")
    roll: float | None = Field(description="Degrees.")
    level: bool | None = Field(description="The sensor reports the coach level.")


class ChassisState(EntityStateModel):
    """The chassis as RV-C reports it (CHASSIS_MOBILITY_STATUS)."""

    speed_kmh: float | None
    engine_rpm: float | None
    park_brake: bool | None = Field(description="True when engaged.")
    ignition: bool | None
    gear: Label | None = Field(description="Current gear.")


class TroubleCode(EntityStateModel):
    """One active J1939 trouble code."""

    source_address: int
    spn: int | None
    fmi: int | None
    occurrences: int | None


class Lamps(EntityStateModel):
    """The chassis warning lamps, "on", "off" or null when no controller says."""

    protect: Literal["on", "off"] | None
    amber_warning: Literal["on", "off"] | None
    red_stop: Literal["on", "off"] | None
    malfunction: Literal["on", "off"] | None


class J1939ChassisState(EntityStateModel):
    """The chassis as its own J1939 bus reports it (the j1939 feature)."""

    engine_rpm: float | None
    speed_kmh: float | None
    cruise_control: Label | None
    gear: Label | None
    selected_gear: Label | None
    coolant_c: float | None
    oil_pressure_kpa: float | None
    fuel_level_pct: float | None
    fuel_rate_lph: float | None
    engine_hours: float | None
    battery_v: float | None
    park_brake: bool | None
    trouble_codes: list[TroubleCode] | None
    lamps: Lamps | None


# Device family (EntityConfig.device) -> the model of its state.
STATE_MODELS: Mapping[str, type[EntityStateModel]] = {
    "dimmer": DimmerState, "relay": RelayState, "ac_load": AcLoadState, "lock": LockState, "tank": TankState,
    "dc_source": DcSourceState, "charger": ChargerState, "inverter": InverterState,
    "transfer_switch": TransferSwitchState, "thermostat": ThermostatState, "furnace": FurnaceState,
    "water_heater": WaterHeaterState, "water_pump": WaterPumpState, "roof_fan": RoofFanState,
    "generator": GeneratorState, "motor_pair": MotorPairState, "awning": AwningState, "shade": ShadeState,
    "leveling": LevelingState, "chassis": ChassisState, "j1939_chassis": J1939ChassisState,
}

_BLANK: Mapping[str, tuple[str, ...]] = {device: tuple(model.model_fields) for device, model in STATE_MODELS.items()}


def blank(device: str) -> dict[str, Any]:
    """The state of a device of this family before it is heard: every key, each null."""
    return dict.fromkeys(_BLANK[device])


def known_values(device: str, stored: Mapping[str, Any]) -> dict[str, Any]:
    """A blank state filled with the keys of `stored` its family has (a restored state from an older
    version may have others, which are dropped)."""
    keys = _BLANK[device]
    return {key: stored.get(key) for key in keys}


def device_types() -> dict[str, tuple[EntityType, ...]]:
    """Device family -> the entity types it can play: the mapping's families, and the chassis the j1939
    feature adds."""
    found = {name: family.types for name, family in FAMILIES.items()}
    found["j1939_chassis"] = (EntityType.CHASSIS,)
    return found
