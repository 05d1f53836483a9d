"""Simulated DC dimmer and relay outputs, AC loads and door locks.

`DcOutput` is one output channel of a DC dimmer/relay module as RV-C describes it (DC_DIMMER_COMMAND_2
in, DC_DIMMER_STATUS_3 out): levels, timed on/off, ramps, flashing and lock. Lights and switched loads
wrap one output; motor pairs (motion.py) wrap two.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from coachiq.sim.devices import DeviceKind, SimDevice
from coachiq.sim.model import DeviceModel, StatusFrame, World, approach, clamp

__all__ = ["DEFAULT_RAMP_S", "AcLoad", "DcLoad", "DcOutput", "Lock"]

DEFAULT_RAMP_S = 2.0  # a dimmer's own ramp: 0 to 100 % in 2 s
FLASH_HALF_PERIOD_S = 0.5
FLASH_MOMENTARY_S = 5.0  # flash_momentarily without a duration
MOMENTARY_S = 0.1  # an "on" with duration 0 lasts until 100 ms after its last repeat
_MAX_DURATION_S = 240  # the largest duration DC_DIMMER_STATUS_3 can report


@dataclass(slots=True)
class DcOutput:
    """One output channel of a DC dimmer or relay module."""

    instance: int
    dimmable: bool
    group: int = 0xFF
    level: float = 0.0  # % of full brightness; a relay is 0 or 100
    memory: float = 100.0  # the level "on" returns to
    locked: bool = False
    last_command: str | None = None
    ramp_target: float | None = None
    ramp_rate: float = 0.0  # % per second while ramping
    ramp_cycle: bool = False  # ramp up/down: reverse at each end until stopped
    off_in: float | None = None  # seconds until a timed "on" ends
    on_in: float | None = None  # seconds until a delayed "on" starts
    on_level: float = 100.0  # the level a delayed "on" goes to
    flash_for: float | None = None  # seconds of flashing left (inf: until stopped)
    flash_phase: float = 0.0

    @property
    def on(self) -> bool:
        """True when the output is energised."""
        return self.level > 0

    @property
    def busy(self) -> bool:
        """Ramping, flashing or counting down."""
        return (self.ramp_target is not None or self.flash_for is not None or self.off_in is not None
                or self.on_in is not None)

    def _set(self, level: float) -> None:
        level = clamp(level, 0.0, 100.0)
        if not self.dimmable:
            level = 100.0 if level > 0 else 0.0
        if level == 0 and self.level > 0:
            self.memory = self.level  # "on" later returns to the level it had
        self.level = level

    def _cancel(self) -> None:
        self.ramp_target = None
        self.ramp_cycle = False
        self.off_in = None
        self.on_in = None
        self.flash_for = None

    def _ramp_to(self, target: float, full_scale_s: float) -> None:
        if not self.dimmable:
            self._set(target)
            return
        self.ramp_target = clamp(target, 0.0, 100.0)
        self.ramp_rate = 100.0 / max(full_scale_s, 0.01)

    def apply(self, command: str | None, desired_level: float | None, duration: int | None,
              ramp_time: float | None) -> None:
        """Carry out one DC_DIMMER_COMMAND_2 (decoded values; None = not available; ramp_time in seconds)."""
        if command is None:
            return
        self.last_command = command
        if command == "unlock":
            self.locked = False
            return
        if command == "lock":
            self.locked = True
            return
        if self.locked:
            return  # a locked output ignores everything but unlock, as the status tells the sender
        # Only "set level" and "ramp to level" may aim at 0; for the "on" commands 0 means "the last level".
        wanted = desired_level
        if wanted is None or (wanted == 0 and command not in ("set_level", "ramp_brightness")):
            wanted = self.memory
        timed: float | None = duration if duration else None  # 0 or not available: no time limit
        if command == "on_duration" and duration == 0:
            timed = MOMENTARY_S  # a momentary "on" drops unless it is repeated
        ramp_s = ramp_time if ramp_time else DEFAULT_RAMP_S
        if command in ("set_level", "on_duration"):
            self._cancel()
            self._set(wanted)
            if timed is not None and self.on:
                self.off_in = float(timed)
        elif command == "on_delay":
            self._cancel()
            self.on_in = float(timed or 0)
            self.on_level = wanted
        elif command == "off_delay":
            self._cancel()
            if timed is None:
                self._set(0.0)
            else:
                self.off_in = float(timed)
        elif command == "stop":
            ramping = self.ramp_target is not None
            self._cancel()
            if not ramping:
                self._set(0.0)  # an output that is on goes off; a ramp holds the level it reached
        elif command == "toggle":
            self._cancel()
            self._set(0.0 if self.on else wanted)
        elif command == "memory_off":
            self._cancel()
            self._set(0.0)
        elif command == "ramp_brightness":
            self._cancel()
            # An explicit ramp time is the time of this change; without one the dimmer's own rate applies.
            full_scale_s = ramp_s * 100.0 / max(abs(wanted - self.level), 1.0) if ramp_time else ramp_s
            self._ramp_to(wanted, full_scale_s)
        elif command == "ramp_toggle":
            self._cancel()
            self._ramp_to(0.0 if self.on else self.memory, ramp_s)
        elif command in ("ramp_up", "ramp_down"):
            self._cancel()
            self._ramp_to(100.0 if command == "ramp_up" else 0.0, ramp_s)
        elif command in ("ramp_up_down", "ramp_up_down_toggle"):
            ramping = self.ramp_target is not None
            self._cancel()
            if command == "ramp_up_down" or not ramping:
                self._ramp_to(0.0 if self.level >= 100 else 100.0, ramp_s)
                self.ramp_cycle = self.dimmable
        elif command in ("flash", "flash_momentarily"):
            self._cancel()
            self.flash_for = float("inf") if command == "flash" else float(timed or FLASH_MOMENTARY_S)
            self.flash_phase = 0.0
            self._set(self.memory)

    def step(self, dt: float) -> bool:
        """Advance timers and ramps by `dt` seconds; True when the level changed."""
        before = self.level
        if self.on_in is not None:
            self.on_in -= dt
            if self.on_in <= 0:
                self.on_in = None
                self._set(self.on_level)
        if self.off_in is not None:
            self.off_in -= dt
            if self.off_in <= 0:
                self.off_in = None
                self._cancel()
                self._set(0.0)
        if self.ramp_target is not None:
            level = approach(self.level, self.ramp_target, self.ramp_rate * dt)
            if level == self.ramp_target:
                if self.ramp_cycle:
                    self.ramp_target = 0.0 if level >= 100 else 100.0
                else:
                    self.ramp_target = None
            if level == 0 and self.level > 0:
                self.memory = self.level
            self.level = level
        if self.flash_for is not None:
            self.flash_for -= dt
            self.flash_phase += dt
            if self.flash_for <= 0:
                self.flash_for = None
                self._set(0.0)
            elif self.flash_phase >= FLASH_HALF_PERIOD_S:
                self.flash_phase = 0.0
                self._set(0.0 if self.on else self.memory)
        return self.level != before

    def values(self) -> dict[str, Any]:
        """The fields of DC_DIMMER_STATUS_3 for this output."""
        remaining = self.off_in if self.off_in is not None else self.on_in
        return {
            "instance": self.instance,
            "group": self.group,
            "brightness": round(self.level * 2) / 2,
            "lock_status": "locked" if self.locked else "unlocked",
            "overcurrent_status": "normal",
            "override_status": "inactive",
            "enable_status": "enabled",
            "duration": None if remaining is None else min(_MAX_DURATION_S, max(0, round(remaining))),
            "last_command": self.last_command,
            "interlock_status": "inactive",
            "load_status": "on" if self.on else "off",
            "undercurrent": "inactive",
            "memory_level": round(self.memory * 2) / 2,
        }


def apply_dimmer_command(output: DcOutput, values: Mapping[str, Any]) -> None:
    """Hand a decoded DC_DIMMER_COMMAND_2 to an output."""
    output.apply(values.get("command"), values.get("desired_level"), values.get("duration"),
                 values.get("ramp_time"))


class DcLoad(DeviceModel):
    """A light (dimmable or relay) or a switched DC load: one DC dimmer/relay output."""

    period_s = 3.0

    def __init__(self, spec: SimDevice) -> None:
        """One output at the device's instance; only DIMMER outputs dim."""
        super().__init__(spec)
        assert spec.instance is not None
        self.output = DcOutput(spec.instance, dimmable=spec.kind is DeviceKind.DIMMER, group=spec.group)
        # Lights draw a couple of amps at full brightness; relay loads (heaters, valves) more.
        self.full_load_a = 1.5 if spec.entity_type == "light" else 5.0

    def command(self, dgn: str, instance: int | None, values: Mapping[str, Any]) -> bool:
        """DC_DIMMER_COMMAND_2 for this output."""
        apply_dimmer_command(self.output, values)
        return True

    def step(self, dt: float, world: World) -> bool:
        """Timers and ramps."""
        return self.output.step(dt)

    @property
    def busy(self) -> bool:
        """The output is ramping, flashing or timed."""
        return self.output.busy

    def status(self) -> list[StatusFrame]:
        """DC_DIMMER_STATUS_3."""
        return [("DC_DIMMER_STATUS_3", self.output.values())]

    def dc_load_a(self) -> float:
        """Proportional to the level."""
        return self.full_load_a * self.output.level / 100.0


class AcLoad(DeviceModel):
    """An AC load switch (AC_LOAD_COMMAND in, AC_LOAD_STATUS out): on/off with an optional time limit."""

    period_s = 3.0
    current_a = 8.0  # what the load draws while on and powered

    def __init__(self, spec: SimDevice) -> None:
        """Starts off."""
        super().__init__(spec)
        self.level = 0.0
        self.off_in: float | None = None
        self.powered = True

    def command(self, dgn: str, instance: int | None, values: Mapping[str, Any]) -> bool:
        """Level, on/off, toggle, timed on; other codes are acknowledged without effect."""
        command = values.get("command")
        desired = values.get("desired_level")
        duration = values.get("duration")
        self.off_in = None
        if command in ("set_level", "on_duration"):
            self.level = 100.0 if desired is None else clamp(float(desired), 0.0, 100.0)
            if duration and self.level > 0:
                self.off_in = float(duration)
        elif command == "off_delay" and duration:
            self.off_in = float(duration)
        elif command in ("stop", "memory_off", "off_delay"):
            self.level = 0.0
        elif command == "toggle":
            self.level = 0.0 if self.level > 0 else 100.0
        return True

    def step(self, dt: float, world: World) -> bool:
        """Timed off; the load only draws current while AC power is present."""
        changed = self.powered != world.ac_available
        self.powered = world.ac_available
        if self.off_in is not None:
            self.off_in -= dt
            if self.off_in <= 0:
                self.off_in = None
                self.level = 0.0
                changed = True
        return changed

    def status(self) -> list[StatusFrame]:
        """AC_LOAD_STATUS."""
        on = self.level > 0
        current = self.current_a * self.level / 100.0 if on and self.powered else 0.0
        return [("AC_LOAD_STATUS", {
            "instance": self.spec.instance, "group": self.spec.group, "operating_level": self.level,
            "operating_mode": "manual", "variable_level": "not_variable", "load_priority": 0,
            "delay": None if self.off_in is None else min(_MAX_DURATION_S, round(self.off_in)),
            "demanded_current": round(self.current_a) if on else 0, "present_current": round(current, 2),
        })]


class Lock(DeviceModel):
    """A door lock (DOOR_COMMAND in, DOOR_STATUS out)."""

    period_s = 5.0

    def __init__(self, spec: SimDevice) -> None:
        """Starts locked."""
        super().__init__(spec)
        self.locked = True

    def command(self, dgn: str, instance: int | None, values: Mapping[str, Any]) -> bool:
        """lock_request lock/unlock; door_action is not modelled."""
        request = values.get("lock_request")
        if request in ("lock", "unlock"):
            self.locked = request == "lock"
        return True

    def status(self) -> list[StatusFrame]:
        """DOOR_STATUS: a plain lock has no motor, position or voltage to report."""
        return [("DOOR_STATUS", {"instance": self.spec.instance, "lock_status": "locked" if self.locked
                                 else "unlocked", "motion": None, "position": None, "voltage": None})]
