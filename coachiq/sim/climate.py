"""Simulated climate: thermostat zones with their air conditioners, furnaces and roof fans.

Each zone's air drifts towards the outside temperature; its air conditioner cools it and the furnace
of the same instance heats it, switched by the thermostat with a dead band (hysteresis) around the
setpoints, the way RV thermostats cycle.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from coachiq.sim.devices import SimDevice
from coachiq.sim.model import DeviceModel, StatusFrame, World

__all__ = ["Furnace", "RoofFan", "Thermostat"]

_LEAK_TIME_CONSTANT_S = 1800.0  # how fast a zone's air follows the outside temperature
_COOLING_DEG_PER_S = 0.01  # an A/C at full output
_HEATING_DEG_PER_S = 0.015  # a furnace at full output
_BURNER_LPG_L_PER_S = 0.0002  # ~0.7 L of LPG an hour


class Thermostat(DeviceModel):
    """A thermostat zone and its air conditioner (THERMOSTAT_COMMAND_1 in; three status DGNs out)."""

    period_s = 3.0
    dead_band = 1.0  # degC around each setpoint

    def __init__(self, spec: SimDevice) -> None:
        """Cooling to 22 degC, heating to 20 degC, the air a little warm."""
        super().__init__(spec)
        assert spec.instance is not None
        self.zone = spec.instance
        self.mode = "cool"
        self.fan_mode = "auto"
        self.schedule_mode = "disabled"
        self.fan_speed = 0.0  # commanded; 0 = automatic
        self.heat_setpoint = 20.0
        self.cool_setpoint = 22.0
        self.ambient = 25.0 + 0.5 * (self.zone % 2)
        self.compressor = False
        self.heat_call = False

    def command(self, dgn: str, instance: int | None, values: Mapping[str, Any]) -> bool:
        """Fields left not available keep their setting, as RV-C thermostats do."""
        for name, attr in (("operating_mode", "mode"), ("fan_mode", "fan_mode"),
                           ("schedule_mode", "schedule_mode"), ("fan_speed", "fan_speed"),
                           ("heat_setpoint", "heat_setpoint"), ("cool_setpoint", "cool_setpoint")):
            if values.get(name) is not None:
                setattr(self, attr, values[name])
        self._regulate()
        return True

    def _regulate(self) -> bool:
        half = self.dead_band / 2
        cooling = self.mode in ("cool", "auto_heat_cool")
        heating = self.mode in ("heat", "auto_heat_cool", "aux_heat")
        compressor = self.compressor
        if not cooling or self.ambient < self.cool_setpoint - half:
            compressor = False
        elif self.ambient > self.cool_setpoint + half:
            compressor = True
        heat_call = self.heat_call
        if not heating or self.ambient > self.heat_setpoint + half:
            heat_call = False
        elif self.ambient < self.heat_setpoint - half:
            heat_call = True
        changed = (compressor, heat_call) != (self.compressor, self.heat_call)
        self.compressor, self.heat_call = compressor, heat_call
        return changed

    @property
    def ac_fan_speed(self) -> float:
        """What the A/C fan actually runs at."""
        running = self.compressor or self.mode == "fan_only" or self.fan_mode == "on"
        if not running:
            return 0.0
        return float(self.fan_speed) if self.fan_speed else 100.0

    def step(self, dt: float, world: World) -> bool:
        """Drift towards outside, cool or heat, and switch with the dead band."""
        heat = world.heat_supplied.get(self.zone, 0.0) / 100.0 * _HEATING_DEG_PER_S
        cool = _COOLING_DEG_PER_S if self.compressor else 0.0
        self.ambient += ((world.outside_temperature - self.ambient) / _LEAK_TIME_CONSTANT_S + heat - cool) * dt
        changed = self._regulate()
        world.heat_demand[self.zone] = self.heat_call
        return changed

    def status(self) -> list[StatusFrame]:
        """THERMOSTAT_STATUS_1, THERMOSTAT_AMBIENT_STATUS and AIR_CONDITIONER_STATUS."""
        zone = self.zone
        return [
            ("THERMOSTAT_STATUS_1", {"instance": zone, "operating_mode": self.mode, "fan_mode": self.fan_mode,
                                     "schedule_mode": self.schedule_mode, "fan_speed": self.fan_speed,
                                     "heat_setpoint": self.heat_setpoint, "cool_setpoint": self.cool_setpoint}),
            ("THERMOSTAT_AMBIENT_STATUS", {"instance": zone, "ambient_temperature": round(self.ambient, 2)}),
            ("AIR_CONDITIONER_STATUS", {"instance": zone, "operating_mode": "automatic", "max_fan_speed": 100.0,
                                        "max_output_level": 100.0, "fan_speed": self.ac_fan_speed,
                                        "output_level": 100.0 if self.compressor else 0.0,
                                        "dead_band": self.dead_band, "second_stage_dead_band": 2.0}),
        ]


class Furnace(DeviceModel):
    """A furnace (FURNACE_COMMAND in, FURNACE_STATUS out) serving the thermostat zone of its instance.

    In automatic mode it burns while its zone's thermostat calls for heat; in manual mode it runs at the
    commanded output and fan speed.
    """

    period_s = 3.0
    fan_current_a = 6.0

    def __init__(self, spec: SimDevice) -> None:
        """Automatic, idle."""
        super().__init__(spec)
        assert spec.instance is not None
        self.zone = spec.instance
        self.mode = "automatic"
        self.heat_source = "combustion"
        self.manual_output = 0.0
        self.manual_fan = 0.0
        self.output = 0.0
        self.fan = 0.0
        self.dead_band = 1.0
        self.second_stage_dead_band = 2.0
        self.demand = False

    def command(self, dgn: str, instance: int | None, values: Mapping[str, Any]) -> bool:
        """Fields left not available keep their setting."""
        for name, attr in (("operating_mode", "mode"), ("heat_source", "heat_source"),
                           ("circulation_fan_speed", "manual_fan"), ("heat_output_level", "manual_output"),
                           ("dead_band", "dead_band"), ("second_stage_dead_band", "second_stage_dead_band")):
            if values.get(name) is not None:
                setattr(self, attr, values[name])
        self._follow()
        return True

    def _follow(self) -> bool:
        before = (self.output, self.fan)
        if self.mode == "manual":
            self.output, self.fan = float(self.manual_output), float(self.manual_fan)
        else:
            self.output = 100.0 if self.demand else 0.0
            self.fan = self.output
        return (self.output, self.fan) != before

    def step(self, dt: float, world: World) -> bool:
        """Follow the zone's call for heat; burn LPG while lit."""
        self.demand = world.heat_demand.get(self.zone, False)
        changed = self._follow()
        world.heat_supplied[self.zone] = self.output
        if self.output > 0 and self.heat_source == "combustion":
            world.lpg_draw_l_per_s += _BURNER_LPG_L_PER_S * self.output / 100.0
        return changed

    def status(self) -> list[StatusFrame]:
        """FURNACE_STATUS."""
        return [("FURNACE_STATUS", {
            "instance": self.zone, "operating_mode": self.mode, "heat_source": self.heat_source,
            "circulation_fan_speed": self.fan, "heat_output_level": self.output, "dead_band": self.dead_band,
            "second_stage_dead_band": self.second_stage_dead_band, "zone_overcurrent": "ok",
            "zone_undercurrent": "ok", "zone_temperature": "normal",
            "zone_input": "active" if self.demand else "inactive",
        })]

    def dc_load_a(self) -> float:
        """The blower."""
        return self.fan_current_a * self.fan / 100.0


class RoofFan(DeviceModel):
    """A roof vent fan (ROOF_FAN_COMMAND_1 in, ROOF_FAN_STATUS_1 out)."""

    period_s = 5.0
    motor_current_a = 3.0
    _DOME = ("closed", "quarter_open", "half_open", "three_quarters_open", "open")

    def __init__(self, spec: SimDevice) -> None:
        """Off with the dome closed."""
        super().__init__(spec)
        self.on = False
        self.fan_mode = "auto"
        self.speed_mode = "manual"
        self.light = "off"
        self.speed = 50.0
        self.direction = "air_out"
        self.dome = "closed"
        self.setpoint = 24.0
        self.ambient = 25.0

    def command(self, dgn: str, instance: int | None, values: Mapping[str, Any]) -> bool:
        """Fields left not available keep their setting; dome "stop" keeps the dome where it is."""
        if values.get("system_status") is not None:
            self.on = values["system_status"] == "on"
        for name, attr in (("fan_mode", "fan_mode"), ("speed_mode", "speed_mode"), ("light", "light"),
                           ("fan_speed", "speed"), ("air_direction", "direction"), ("setpoint", "setpoint")):
            if values.get(name) is not None:
                setattr(self, attr, values[name])
        if values.get("dome_position") in self._DOME:
            self.dome = values["dome_position"]
        return True

    def step(self, dt: float, world: World) -> bool:
        """The fan's sensor reads the air near the roof."""
        self.ambient = world.outside_temperature - 4.0
        return False

    def status(self) -> list[StatusFrame]:
        """ROOF_FAN_STATUS_1."""
        return [("ROOF_FAN_STATUS_1", {
            "instance": self.spec.instance, "system_status": "on" if self.on else "off",
            "fan_mode": self.fan_mode, "speed_mode": self.speed_mode, "light": self.light,
            "fan_speed": self.speed if self.on else 0.0, "air_direction": self.direction,
            "dome_position": self.dome, "ambient_temperature": self.ambient, "setpoint": self.setpoint,
        })]

    def dc_load_a(self) -> float:
        """Proportional to speed while on."""
        return self.motor_current_a * self.speed / 100.0 if self.on else 0.0
