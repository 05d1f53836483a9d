"""Simulated power system: batteries, charger, inverter, transfer switch and generator.

The models share the coach's `World`: the generator and shore power decide whether AC is present, the
charger turns AC into DC current, and each battery's state of charge and voltage follow the current that
the charger and the loads push in and draw out. Numbers are plausible for a 12 V coach, not a battery model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from coachiq.sim.devices import SimDevice
from coachiq.sim.model import DeviceModel, StatusFrame, World, approach, clamp

__all__ = ["Battery", "Charger", "Generator", "Inverter", "TransferSwitch"]

_HOUSE_INSTANCE = 1
_MONITOR_PRIORITY = 100  # DC source device priority a battery monitor reports
_AC_VOLTS = 120.0
_AC_HZ = 60.0


class Battery(DeviceModel):
    """A battery bank seen through its monitor (DC_SOURCE_STATUS_1 and _2).

    The house bank (instance 1) charges from the charger and feeds the house loads; the chassis battery
    only has a small standing drain and is topped up while the engine runs.
    """

    period_s = 1.0
    internal_resistance_ohm = 0.02

    def __init__(self, spec: SimDevice) -> None:
        """House bank 400 Ah at 85 %, chassis battery 100 Ah at 95 %."""
        super().__init__(spec)
        self.house = spec.instance == _HOUSE_INSTANCE
        self.capacity_ah = 400.0 if self.house else 100.0
        self.soc = 85.0 if self.house else 95.0
        self.current = 0.0
        self.voltage = self._voltage()
        self.temperature = 25.0

    def _voltage(self) -> float:
        # Open-circuit voltage of a lead-acid bank rises ~1.1 V from empty to full; current moves it by IR.
        return clamp(11.8 + 0.011 * self.soc + self.internal_resistance_ohm * self.current, 10.5, 14.8)

    def step(self, dt: float, world: World) -> bool:
        """Integrate the current into the state of charge."""
        if self.house:
            self.current = world.charger_current_a - world.house_load_a
        else:
            self.current = 10.0 if world.engine_running and self.soc < 100 else -0.05
        self.soc = clamp(self.soc + self.current * dt / 3600.0 / self.capacity_ah * 100.0, 0.0, 100.0)
        if self.soc >= 100.0 and self.current > 0:
            self.current = 0.0  # a full bank takes no more charge
        self.voltage = self._voltage()
        if self.house:
            world.house_soc = self.soc
            world.house_voltage = self.voltage
        else:
            world.chassis_battery_v = self.voltage
        return False

    def status(self) -> list[StatusFrame]:
        """DC_SOURCE_STATUS_1 (voltage, current) and DC_SOURCE_STATUS_2 (temperature, state of charge)."""
        remaining: int | None = None
        if self.current < -0.1:
            remaining = min(64000, round(self.soc / 100.0 * self.capacity_ah / -self.current * 60.0))
        # self.current is positive while charging; RV-C reports current flowing out of the source as positive.
        return [
            ("DC_SOURCE_STATUS_1", {"instance": self.spec.instance, "device_priority": _MONITOR_PRIORITY,
                                    "dc_voltage": round(self.voltage, 2), "dc_current": round(-self.current, 3)}),
            ("DC_SOURCE_STATUS_2", {"instance": self.spec.instance, "device_priority": _MONITOR_PRIORITY,
                                    "source_temperature": self.temperature,
                                    "state_of_charge": round(self.soc * 2) / 2, "time_remaining": remaining,
                                    "time_remaining_interpretation": "time_to_empty"}),
        ]


class Charger(DeviceModel):
    """A converter/charger (CHARGER_COMMAND in, CHARGER_STATUS out): bulk, absorption, float on AC power."""

    period_s = 2.0
    max_current_a = 60.0
    bulk_current_a = 40.0
    float_current_a = 1.0

    def __init__(self, spec: SimDevice) -> None:
        """Enabled, not forced."""
        super().__init__(spec)
        self.enabled = True
        self.enabled_at_power_up = "enabled"
        self.auto_recharge = "enabled"
        self.state = "not_charging"
        self.current = 0.0
        self.voltage = 0.0

    def command(self, dgn: str, instance: int | None, values: Mapping[str, Any]) -> bool:
        """enable / disable (equalization is accepted and treated as enable)."""
        command = values.get("command")
        if command in ("enable", "start_equalization"):
            self.enabled = True
        elif command == "disable":
            self.enabled = False
        for name in ("enabled_at_power_up", "auto_recharge"):
            if values.get(name) is not None:
                setattr(self, name, values[name])
        return True

    def step(self, dt: float, world: World) -> bool:
        """Pick the charge stage from the house bank's state of charge; supply the loads as well."""
        before = self.state
        if not (self.enabled and world.ac_available):
            self.state = "not_charging"
            charge = 0.0
        elif world.house_soc < 80.0:
            self.state, charge = "bulk", self.bulk_current_a
        elif world.house_soc < 98.0:
            self.state = "absorption"
            # The current tapers from bulk to float as the bank fills.
            taper = (98.0 - world.house_soc) / 18.0
            charge = self.float_current_a + (self.bulk_current_a - self.float_current_a) * taper
        else:
            self.state, charge = "float", self.float_current_a
        self.current = 0.0 if self.state == "not_charging" else min(self.max_current_a,
                                                                   charge + world.house_load_a)
        world.charger_current_a = self.current
        self.voltage = world.house_voltage if self.current else 0.0
        return self.state != before

    def status(self) -> list[StatusFrame]:
        """CHARGER_STATUS."""
        return [("CHARGER_STATUS", {
            "instance": self.spec.instance, "charge_voltage": round(self.voltage, 2),
            "charge_current": round(self.current, 2),
            "charge_current_percent": round(self.current / self.max_current_a * 200) / 2,
            "operating_state": self.state if self.enabled else "disabled",
            "enabled_at_power_up": self.enabled_at_power_up, "auto_recharge": self.auto_recharge,
            "force_charge": "not_forced",
        })]


class Inverter(DeviceModel):
    """An inverter (INVERTER_COMMAND in, INVERTER_STATUS out): passes AC through or inverts from the bank."""

    period_s = 2.0
    inverting_draw_a = 3.0

    def __init__(self, spec: SimDevice) -> None:
        """Enabled with pass-through; load sense off."""
        super().__init__(spec)
        self.enabled = True
        self.load_sense = False
        self.pass_through = True
        self.ac_input = False
        self.mode = self._mode()

    def command(self, dgn: str, instance: int | None, values: Mapping[str, Any]) -> bool:
        """Fields left not available keep their setting."""
        for name, attr in (("inverter_enable", "enabled"), ("load_sense_enable", "load_sense"),
                           ("pass_through_enable", "pass_through")):
            if values.get(name) is not None:
                setattr(self, attr, values[name] == "enable")
        self.mode = self._mode()
        return True

    def _mode(self) -> str:
        if self.ac_input and self.pass_through:
            return "ac_pass_through"
        if self.enabled and not self.ac_input:
            return "load_sense" if self.load_sense else "inverting"
        return "disabled"

    def step(self, dt: float, world: World) -> bool:
        """Follow AC availability."""
        before = self.mode
        self.ac_input = world.ac_available
        self.mode = self._mode()
        return self.mode != before

    def status(self) -> list[StatusFrame]:
        """INVERTER_STATUS."""
        def flag(on: bool) -> str:
            return "enabled" if on else "disabled"

        return [("INVERTER_STATUS", {
            "instance": self.spec.instance, "status": self.mode, "battery_temperature_sensor": "present",
            "load_sense_enabled": flag(self.load_sense), "inverter_enabled": flag(self.enabled),
            "pass_through_enabled": flag(self.pass_through), "generator_support_enabled": "disabled",
        })]

    def dc_load_a(self) -> float:
        """The inverter's own draw while inverting."""
        return self.inverting_draw_a if self.mode == "inverting" else 0.0


class TransferSwitch(DeviceModel):
    """An automatic transfer switch: generator when it runs, else shore (ATS_AC_STATUS_1, read-only)."""

    period_s = 2.0

    def __init__(self, spec: SimDevice) -> None:
        """Sources as in devices.py: generator on the primary input, shore on the secondary (RV-C 6.32.2)."""
        super().__init__(spec)
        self.shore = str(spec.params.get("shore_source", "secondary"))
        self.generator = str(spec.params.get("generator_source", "primary"))
        self.shore_powered = False
        self.generator_powered = False
        self.load_a = 0.0

    @property
    def selected(self) -> str | None:
        """The input feeding the output, or None when neither has power."""
        if self.generator_powered:
            return self.generator
        if self.shore_powered:
            return self.shore
        return None

    def step(self, dt: float, world: World) -> bool:
        """Follow shore and generator; the AC current is the coach's charger plus a base load."""
        before = self.selected
        self.shore_powered = world.shore_connected
        self.generator_powered = world.generator_running
        self.load_a = 4.0 + world.charger_current_a * world.house_voltage / _AC_VOLTS if self.selected else 0.0
        return self.selected != before

    def _line(self, direction: str, source: str, powered: bool, current: float) -> dict[str, Any]:
        return {"instance": self.spec.instance, "direction": direction, "source": source, "leg": "leg_1",
                "rms_voltage": _AC_VOLTS if powered else 0.0, "rms_current": round(current, 2),
                "frequency": _AC_HZ if powered else 0.0, "open_ground_fault": "no_fault",
                "open_neutral_fault": "no_fault", "reverse_polarity_fault": "no_fault",
                "ground_current_fault": "no_fault"}

    def status(self) -> list[StatusFrame]:
        """ATS_AC_STATUS_1 for the shore input, the generator input and the output."""
        selected = self.selected
        return [
            ("ATS_AC_STATUS_1", self._line("input", self.shore, self.shore_powered,
                                           self.load_a if selected == self.shore else 0.0)),
            ("ATS_AC_STATUS_1", self._line("input", self.generator, self.generator_powered,
                                           self.load_a if selected == self.generator else 0.0)),
            ("ATS_AC_STATUS_1", self._line("output", selected or self.shore, selected is not None, self.load_a)),
        ]


class Generator(DeviceModel):
    """A diesel generator (GENERATOR_COMMAND in, GENERATOR_STATUS_1 out).

    start: preheat for a second, crank, run after `start_delay_s`; stop: run on for `stop_delay_s`
    (cool-down), then stopped.
    """

    period_s = 2.0
    preheat_s = 1.0

    def __init__(self, spec: SimDevice) -> None:
        """Stopped, with some hours on the clock."""
        super().__init__(spec)
        self.start_delay_s = float(spec.params.get("start_delay_s", 3.0))  # type: ignore[arg-type]
        self.stop_delay_s = float(spec.params.get("stop_delay_s", 1.0))  # type: ignore[arg-type]
        self.state = "stopped"
        self.timer = 0.0  # seconds in the current transitional state
        self.stopping = False
        self.run_minutes = 1234.0
        self.load = 0.0
        self.battery_v = 12.7

    @property
    def busy(self) -> bool:
        """Starting or cooling down."""
        return self.state in ("preheat", "cranking") or self.stopping

    def command(self, dgn: str, instance: int | None, values: Mapping[str, Any]) -> bool:
        """start / stop; priming and preheat on their own are acknowledged without effect."""
        command = values.get("command")
        if command == "start" and (self.state == "stopped" or self.stopping):
            if self.state == "stopped":
                self.state, self.timer = "preheat", 0.0
            self.stopping = False
        elif command == "stop":
            if self.state == "running":
                self.stopping, self.timer = True, 0.0
            else:
                self.state, self.stopping = "stopped", False
        return True

    def step(self, dt: float, world: World) -> bool:
        """Preheat -> cranking -> running; cool-down -> stopped."""
        before = self.state
        self.timer += dt
        if self.state == "preheat" and self.timer >= self.preheat_s:
            self.state = "cranking"
        elif self.state == "cranking" and self.timer >= self.start_delay_s:
            self.state = "running"
        elif self.state == "running":
            self.run_minutes += dt / 60.0
            if self.stopping and self.timer >= self.stop_delay_s:
                self.state, self.stopping = "stopped", False
        if self.state != before:
            self.timer = 0.0 if self.state != "cranking" else self.timer
        world.generator_running = self.state == "running"
        target_load = 20.0 + 60.0 * world.charger_current_a / 60.0 if world.generator_running else 0.0
        self.load = approach(self.load, target_load, 20.0 * dt)
        # The starter pulls the start battery down while cranking.
        self.battery_v = world.chassis_battery_v - (1.8 if self.state == "cranking" else 0.0)
        return self.state != before

    def status(self) -> list[StatusFrame]:
        """GENERATOR_STATUS_1."""
        return [("GENERATOR_STATUS_1", {"status": self.state, "engine_run_time": int(self.run_minutes),
                                        "engine_load": round(self.load * 2) / 2,
                                        "start_battery_voltage": round(self.battery_v, 2)})]
