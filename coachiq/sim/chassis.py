"""The simulated chassis: CHASSIS_MOBILITY_STATUS several times a second, driving and parking on request.

Driving starts the engine, selects a forward gear, releases the park brake and accelerates to cruising
speed. Stopping brakes to a standstill, then selects park and, as a driver would when camping, switches
the engine and ignition off. The park brake follows the request when one is given.
"""

from __future__ import annotations

from coachiq.sim.devices import SimDevice
from coachiq.sim.model import DeviceModel, StatusFrame, World, approach

__all__ = ["Chassis"]

CRUISE_KPH = 88.0
ACCELERATION_KPH_S = 15.0
BRAKING_KPH_S = 30.0
IDLE_RPM = 700
_RPM_PER_KPH = 18.0


class Chassis(DeviceModel):
    """Speed, park brake, ignition and gear of the coach (read-only on the bus)."""

    period_s = 0.2  # RV-C chassis nodes send mobility status every 100-500 ms

    def __init__(self, spec: SimDevice) -> None:
        """Parked: standing still, park brake on, engine and ignition off, gear in park."""
        super().__init__(spec)
        self.moving = False
        self.park_brake = True
        self.ignition = False
        self.engine_running = False
        self.speed = 0.0
        self.gear = "park"

    def set_state(self, moving: bool | None, park_brake: bool | None, ignition: bool | None = None) -> None:
        """Ask the driver to drive or stop; set the park brake or ignition (None: leave as is)."""
        if moving is not None:
            self.moving = moving
            if moving:
                self.ignition = self.engine_running = True
                self.gear = "forward_6"
                if park_brake is None:
                    self.park_brake = False
        if park_brake is not None:
            self.park_brake = park_brake
        if ignition is not None:
            self.ignition = ignition
            self.engine_running = ignition and (self.engine_running or self.moving)

    @property
    def busy(self) -> bool:
        """Accelerating or braking."""
        return self.speed != (CRUISE_KPH if self.moving else 0.0) or (not self.moving and self.gear != "park")

    def step(self, dt: float, world: World) -> bool:
        """Accelerate or brake; once stopped after a drive, park and switch off."""
        before = (self.speed > 0, self.gear, self.engine_running)
        if self.moving:
            self.speed = approach(self.speed, CRUISE_KPH, ACCELERATION_KPH_S * dt)
        elif self.gear != "park":
            self.speed = approach(self.speed, 0.0, BRAKING_KPH_S * dt)
            if self.speed == 0:
                self.gear = "park"
                self.ignition = self.engine_running = False
        world.engine_running = self.engine_running
        world.park_brake_set = self.park_brake
        return (self.speed > 0, self.gear, self.engine_running) != before

    @property
    def engine_rpm(self) -> int:
        """Idle when stopped, rising with road speed."""
        if not self.engine_running:
            return 0
        return round(IDLE_RPM + _RPM_PER_KPH * self.speed)

    def status(self) -> list[StatusFrame]:
        """CHASSIS_MOBILITY_STATUS."""
        return [("CHASSIS_MOBILITY_STATUS", {
            "engine_speed": self.engine_rpm, "vehicle_speed": round(self.speed),
            "park_brake": "engaged" if self.park_brake else "released",
            "transmission_lock": "unlocked", "engine_lock": "free_to_start",
            "ignition_switch": "on" if self.ignition else "off",
            "accessory_switch": "on" if self.ignition else "off",
            "transmission_current_gear": self.gear, "transmission_gear_selected": self.gear,
        })]
