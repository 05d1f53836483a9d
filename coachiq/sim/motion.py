"""Simulated moving parts: slides and leveling jacks (motor pairs), the awning and window shades.

Position is 0 % at the retracted (raised, open) end and 100 % at the extended (lowered, closed) end,
covered in the device's travel time. Every motor stops by itself at its end of travel, as a limit switch
would; the bus sees that as the output or motion dropping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from coachiq.sim.devices import SimDevice
from coachiq.sim.loads import DcOutput, apply_dimmer_command
from coachiq.sim.model import DeviceModel, StatusFrame, World, clamp

__all__ = ["Awning", "MotorPair", "Shade"]

_DEFAULT_TRAVEL_S = 12.0
_MOMENTARY_S = 2.0  # a shade's momentary command (duration 0) runs this long unless repeated


class MotorPair(DeviceModel):
    """A slide or jack driven by two relay outputs: one extends, the other retracts.

    The module interlocks the pair (energising one side releases the other), and drops an output when
    its limit is reached or its commanded duration runs out.
    """

    period_s = 3.0
    motor_current_a = 20.0

    def __init__(self, spec: SimDevice) -> None:
        """Starts fully retracted with both outputs off."""
        super().__init__(spec)
        assert spec.extend_instance is not None and spec.retract_instance is not None
        self.extend = DcOutput(spec.extend_instance, dimmable=False, group=spec.group)
        self.retract = DcOutput(spec.retract_instance, dimmable=False, group=spec.group)
        self.travel_s = spec.travel_s or _DEFAULT_TRAVEL_S
        self.position = 0.0  # % of travel from retracted

    @property
    def instances(self) -> list[tuple[str, int | None]]:
        """Both outputs take DC_DIMMER_COMMAND_2."""
        assert self.spec.command_dgn is not None
        return [(self.spec.command_dgn, self.extend.instance), (self.spec.command_dgn, self.retract.instance)]

    @property
    def moving(self) -> str | None:
        """"extending", "retracting" or None."""
        if self.extend.on:
            return "extending"
        if self.retract.on:
            return "retracting"
        return None

    @property
    def busy(self) -> bool:
        """The motor runs or an output is timed."""
        return self.extend.busy or self.retract.busy or self.moving is not None

    def command(self, dgn: str, instance: int | None, values: Mapping[str, Any]) -> bool:
        """Drive one output; the other one is released when this one turns on."""
        output, other = (self.extend, self.retract) if instance == self.extend.instance else (self.retract,
                                                                                          self.extend)
        apply_dimmer_command(output, values)
        if output.on and other.on:
            other.apply("stop", None, None, None)
        return True

    def step(self, dt: float, world: World) -> bool:
        """Move while an output is on; drop it at the limit or when its duration ends."""
        # Move first: an output whose duration ends in this tick was on for the tick.
        changed = False
        speed = 100.0 * dt / self.travel_s
        if self.extend.on:
            self.position = clamp(self.position + speed, 0.0, 100.0)
            if self.position >= 100.0:
                self.extend.apply("stop", None, None, None)
                changed = True
        elif self.retract.on:
            self.position = clamp(self.position - speed, 0.0, 100.0)
            if self.position <= 0.0:
                self.retract.apply("stop", None, None, None)
                changed = True
        return self.extend.step(dt) | self.retract.step(dt) | changed

    def status(self) -> list[StatusFrame]:
        """DC_DIMMER_STATUS_3 of both outputs."""
        return [("DC_DIMMER_STATUS_3", self.extend.values()), ("DC_DIMMER_STATUS_3", self.retract.values())]

    def dc_load_a(self) -> float:
        """The motor's current while it runs."""
        return self.motor_current_a if self.moving else 0.0


class Awning(DeviceModel):
    """A powered awning (AWNING_COMMAND in, AWNING_STATUS out) with travel time and end stops."""

    period_s = 3.0
    motor_current_a = 8.0

    def __init__(self, spec: SimDevice) -> None:
        """Starts retracted and stopped."""
        super().__init__(spec)
        self.travel_s = spec.travel_s or _DEFAULT_TRAVEL_S
        self.position = 0.0
        self.motion = "stopped"
        self.target = 0.0

    @property
    def busy(self) -> bool:
        """Moving."""
        return self.motion != "stopped"

    def command(self, dgn: str, instance: int | None, values: Mapping[str, Any]) -> bool:
        """extend / retract (to target_position when given, else to the end) or stop."""
        direction = values.get("direction")
        target = values.get("target_position")
        if direction == "stop":
            self.motion = "stopped"
        elif direction == "extend":
            self.target = 100.0 if target is None else float(target)
            self.motion = "extending" if self.target > self.position else "stopped"
        elif direction == "retract":
            self.target = 0.0 if target is None else float(target)
            self.motion = "retracting" if self.target < self.position else "stopped"
        return True

    def step(self, dt: float, world: World) -> bool:
        """Move towards the target; stop there or at an end."""
        if self.motion == "stopped":
            return False
        speed = 100.0 * dt / self.travel_s
        if self.motion == "extending":
            self.position = min(self.position + speed, self.target, 100.0)
            done = self.position >= min(self.target, 100.0)
        else:
            self.position = max(self.position - speed, self.target, 0.0)
            done = self.position <= max(self.target, 0.0)
        if done:
            self.motion = "stopped"
            return True
        return False

    def status(self) -> list[StatusFrame]:
        """AWNING_STATUS."""
        return [("AWNING_STATUS", {
            "instance": self.spec.instance, "motion": self.motion, "position": round(self.position * 2) / 2,
            "travel_lock": "secured" if self.position == 0 else "not_secured", "unlock_status": "unlocked",
            "user_lock": "inactive", "brake_status": "released" if self.motion != "stopped" else "engaged",
            "parked_lockout": "may_move", "ignition_lockout": "may_move", "low_voltage_lockout": "may_move",
            "generic_lockout": "may_move",
        })]

    def dc_load_a(self) -> float:
        """Motor current while moving."""
        return 0.0 if self.motion == "stopped" else self.motor_current_a


class Shade(DeviceModel):
    """A motorised window shade (WINDOW_SHADE_CONTROL_COMMAND in, ..._STATUS out).

    As RV-C defines the directions, forward raises (opens) the shade and reverse lowers (closes) it.
    """

    period_s = 5.0

    def __init__(self, spec: SimDevice) -> None:
        """Starts raised and still."""
        super().__init__(spec)
        self.travel_s = spec.travel_s or _DEFAULT_TRAVEL_S
        self.position = 0.0  # % lowered
        self.direction: str | None = None  # "forward" | "reverse"
        self.run_for: float | None = None
        self.locked = False
        self.last_command: str | None = None
        self.duty = 100.0

    @property
    def busy(self) -> bool:
        """Moving."""
        return self.direction is not None

    def command(self, dgn: str, instance: int | None, values: Mapping[str, Any]) -> bool:
        """forward / reverse / toggles / stop / lock / unlock, with an optional duration."""
        command = values.get("command")
        if command is None:
            return True
        self.last_command = command
        if command in ("lock", "unlock"):
            self.locked = command == "lock"
            return True
        if self.locked:
            return True
        duration = values.get("duration")
        duty = values.get("motor_duty")
        if duty:
            self.duty = float(duty)
        if command == "stop":
            self.direction = None
        elif command in ("forward", "reverse"):
            self.direction = command
        elif command in ("toggle_forward", "toggle_reverse"):
            wanted = command.removeprefix("toggle_")
            self.direction = None if self.direction == wanted else wanted
        if duration == 0:
            duration = _MOMENTARY_S  # momentary: runs on only while the command is repeated
        self.run_for = float(duration) if duration and self.direction else None
        return True

    def step(self, dt: float, world: World) -> bool:
        """Move; stop at an end or when the duration runs out."""
        if self.direction is None:
            return False
        speed = 100.0 * dt / self.travel_s * self.duty / 100.0
        if self.direction == "reverse":
            self.position = min(100.0, self.position + speed)
            at_end = self.position >= 100.0
        else:
            self.position = max(0.0, self.position - speed)
            at_end = self.position <= 0.0
        if self.run_for is not None:
            self.run_for -= dt
            at_end = at_end or self.run_for <= 0
        if at_end:
            self.direction = None
            self.run_for = None
            return True
        return False

    def status(self) -> list[StatusFrame]:
        """WINDOW_SHADE_CONTROL_STATUS."""
        active = self.direction is not None
        return [("WINDOW_SHADE_CONTROL_STATUS", {
            "instance": self.spec.instance, "group": self.spec.group,
            "motor_duty": self.duty if active else 0.0,
            "lock_status": "locked" if self.locked else "unlocked",
            "motor_status": "active" if active else "inactive",
            "forward_status": "active" if self.direction == "forward" else "inactive",
            "reverse_status": "active" if self.direction == "reverse" else "inactive",
            "duration": None if self.run_for is None else min(240, max(0, round(self.run_for))),
            "last_command": self.last_command, "overcurrent_status": "normal", "override_status": "inactive",
            "disable_1_status": "inactive", "disable_2_status": "inactive",
        })]
