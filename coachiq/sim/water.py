"""Simulated water and LPG: tanks, the fresh water pump and the water heater.

Water the pump takes from the fresh tank ends up mostly in the grey tank and some in the black tank;
the burners draw on the LPG tank. The pump runs in short bursts while enabled, as a pressure pump does
when taps are opened now and then.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from coachiq.sim.devices import SimDevice
from coachiq.sim.model import DeviceModel, StatusFrame, World, approach, clamp

__all__ = ["Tank", "WaterHeater", "WaterPump"]

# Where the water goes, by RV-C tank instance: fresh 0, black 1, grey 2, LPG 3.
_FRESH, _BLACK, _GREY, _LPG = 0, 1, 2, 3
_START_LEVEL = {_FRESH: 75.0, _BLACK: 20.0, _GREY: 35.0, _LPG: 80.0}
_TO_GREY = 0.8
_TO_BLACK = 0.15
_RESOLUTION = 100  # relative_level / resolution = fill fraction: whole percent


class Tank(DeviceModel):
    """A tank level sensor (TANK_STATUS, read-only)."""

    period_s = 1.0

    def __init__(self, spec: SimDevice) -> None:
        """Starts at a level typical for its kind."""
        super().__init__(spec)
        assert spec.instance is not None
        self.capacity_l = float(spec.capacity_l or 100)
        self.litres = self.capacity_l * _START_LEVEL.get(spec.instance, 50.0) / 100.0

    @property
    def percent(self) -> float:
        """Fill level, %."""
        return 100.0 * self.litres / self.capacity_l

    def step(self, dt: float, world: World) -> bool:
        """Fresh drains with the pump, grey and black fill from it, LPG feeds the burners."""
        rate = {_FRESH: -world.fresh_draw_l_per_s, _GREY: _TO_GREY * world.fresh_draw_l_per_s,
                _BLACK: _TO_BLACK * world.fresh_draw_l_per_s, _LPG: -world.lpg_draw_l_per_s}
        self.litres = clamp(self.litres + rate.get(self.spec.instance or 0, 0.0) * dt, 0.0, self.capacity_l)
        return False

    def status(self) -> list[StatusFrame]:
        """TANK_STATUS."""
        return [("TANK_STATUS", {"instance": self.spec.instance, "relative_level": round(self.percent),
                                 "resolution": _RESOLUTION, "absolute_level": round(self.litres),
                                 "tank_size": round(self.capacity_l)})]


class WaterPump(DeviceModel):
    """The fresh water pump (WATER_PUMP_COMMAND in, WATER_PUMP_STATUS out; no instance)."""

    period_s = 3.0
    cycle_s = 30.0  # one tap opened every half minute...
    run_s = 3.0  # ...for three seconds
    flow_l_per_s = 0.05
    current_a = 5.0

    def __init__(self, spec: SimDevice) -> None:
        """Enabled, between two bursts."""
        super().__init__(spec)
        self.enabled = True
        self.running = False
        self.clock = self.run_s  # start just after a burst

    def command(self, dgn: str, instance: int | None, values: Mapping[str, Any]) -> bool:
        """enable / disable."""
        command = values.get("command")
        if command in ("enable", "disable"):
            self.enabled = command == "enable"
            if not self.enabled:
                self.running = False
        return True

    def step(self, dt: float, world: World) -> bool:
        """Run in bursts while enabled and water is left."""
        before = self.running
        self.clock = (self.clock + dt) % self.cycle_s
        self.running = self.enabled and self.clock < self.run_s
        world.fresh_draw_l_per_s = self.flow_l_per_s if self.running else 0.0
        return self.running != before

    def status(self) -> list[StatusFrame]:
        """WATER_PUMP_STATUS."""
        return [("WATER_PUMP_STATUS", {"operating_status": "enabled" if self.enabled else "disabled",
                                       "running": "running" if self.running else "stopped",
                                       "city_water": "not_connected",
                                       "operating_current": round(self.current_a) if self.running else 0})]

    def dc_load_a(self) -> float:
        """The motor while it runs."""
        return self.current_a if self.running else 0.0


class WaterHeater(DeviceModel):
    """A gas/electric water heater (WATERHEATER_COMMAND in, WATERHEATER_STATUS out)."""

    period_s = 3.0
    heating_deg_per_s = 0.05
    cooling_deg_per_s = 0.002
    room_temperature = 20.0

    def __init__(self, spec: SimDevice) -> None:
        """Off, cold, set for 55 degC."""
        super().__init__(spec)
        self.mode = "off"
        self.setpoint = 55.0
        self.water = self.room_temperature
        self.element_level = 1
        self.heating = False
        self.ac_present = True

    def command(self, dgn: str, instance: int | None, values: Mapping[str, Any]) -> bool:
        """Fields left not available keep their setting."""
        if values.get("operating_mode") is not None:
            self.mode = values["operating_mode"]
        if values.get("setpoint") is not None:
            self.setpoint = float(values["setpoint"])
        if values.get("electric_element_level") is not None:
            self.element_level = int(values["electric_element_level"])
        return True

    @property
    def burner(self) -> bool:
        """Gas flame lit; in automatic mode only when there is no AC power (RV-C 6.9.2)."""
        automatic_gas = self.mode == "automatic" and not self.ac_present
        return self.heating and (automatic_gas or self.mode in ("combustion", "gas_electric", "test_combustion"))

    @property
    def element(self) -> bool:
        """Electric element on (needs AC power); automatic mode prefers it whenever AC is present."""
        return self.heating and self.ac_present and self.mode in ("electric", "gas_electric", "automatic",
                                                                  "test_electric")

    def step(self, dt: float, world: World) -> bool:
        """Heat to the setpoint, restart 3 degC below it; cool towards the room otherwise."""
        before = (self.burner, self.element)
        self.ac_present = world.ac_available
        if self.mode == "off" or self.water >= self.setpoint:
            self.heating = False
        elif self.water < self.setpoint - 3.0:
            self.heating = True
        if self.burner or self.element:
            self.water = min(self.setpoint, self.water + self.heating_deg_per_s * dt)
        else:
            self.water = approach(self.water, self.room_temperature, self.cooling_deg_per_s * dt)
        if self.burner:
            world.lpg_draw_l_per_s += 0.0002
        return (self.burner, self.element) != before

    def status(self) -> list[StatusFrame]:
        """WATERHEATER_STATUS."""
        return [("WATERHEATER_STATUS", {
            "instance": self.spec.instance, "operating_mode": self.mode, "setpoint": self.setpoint,
            "water_temperature": round(self.water, 2),
            "thermostat_status": "setpoint_met" if self.water >= self.setpoint - 3.0 else "setpoint_not_met",
            "burner_status": "lit" if self.burner else "off",
            "ac_element_status": "active" if self.element else "inactive", "high_temperature_limit": "ok",
            "ignition_failure": "ok", "ac_power_failure": "present" if self.ac_present else "absent",
            "dc_power_failure": "present", "dc_power_warning": "sufficient",
        })]
