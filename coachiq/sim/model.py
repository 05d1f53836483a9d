"""What every simulated device shares: the device model interface and the coach's shared physical world.

A model is pure state and arithmetic: no bus, no asyncio, no clock of its own. The coach hands it the
commands addressed to it and the simulated seconds that passed, and asks it for its status frames. That
keeps the nodes testable and the coach's single scheduler in charge of time and transmission.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from coachiq.sim.devices import SimDevice

__all__ = ["DeviceModel", "StatusFrame", "World", "approach", "clamp"]

# One frame a model wants sent: (DGN name, field values). Missing fields go out as "not available".
StatusFrame = tuple[str, dict[str, Any] | bytes]  # bytes: a payload the model built itself


@dataclass(slots=True)
class World:
    """Physical quantities several devices read or change (AC power, house load, outside temperature)."""

    shore_connected: bool = True
    generator_running: bool = False
    outside_temperature: float = 30.0  # degC: a warm day, so the air conditioners have something to do
    house_load_a: float = 0.0  # DC current drawn from the house bank by the loads, summed each tick
    charger_current_a: float = 0.0  # DC current the charger pushes into the house bank
    house_soc: float = 85.0  # % state of charge of the house bank
    house_voltage: float = 12.8
    chassis_battery_v: float = 12.7
    engine_running: bool = False
    park_brake_set: bool = True  # the chassis's park brake, read by the leveling controller's lockout
    fresh_draw_l_per_s: float = 0.0  # water the pump takes from the fresh tank
    lpg_draw_l_per_s: float = 0.0  # LPG the burners take, summed each tick
    heat_demand: dict[int, bool] = field(default_factory=dict)  # thermostat zone -> calls for heat
    heat_supplied: dict[int, float] = field(default_factory=dict)  # zone -> furnace output, %

    @property
    def ac_available(self) -> bool:
        """True when shore or generator power reaches the transfer switch output."""
        return self.shore_connected or self.generator_running


def clamp(value: float, low: float, high: float) -> float:
    """`value` limited to [low, high]."""
    return low if value < low else high if value > high else value


def approach(value: float, target: float, step: float) -> float:
    """Move `value` towards `target` by at most `step` (step >= 0)."""
    if value < target:
        return min(value + step, target)
    return max(value - step, target)


class DeviceModel(ABC):
    """Base of the simulated devices.

    Subclasses override what they need:
    - `instances`: the (command DGN name, instance) keys they answer; the coach routes commands by them.
    - `command(dgn, instance, values)`: apply a decoded command; True when the device answers with an echo.
      A device that refuses a command sets `refused` to the negative acknowledgment code it answers with
      (RV-C Table 7.5); the coach sends that answer and clears it.
    - `step(dt, world)`: advance `dt` simulated seconds; True when a visible state change should be
      broadcast at once rather than at the next period.
    - `status()`: the frames of one status broadcast.
    """

    period_s = 3.0  # periodic broadcast interval (real seconds), like real nodes' 1-5 s

    def __init__(self, spec: SimDevice) -> None:
        """Keep the device's description; state is set up by subclasses."""
        self.spec = spec
        self.refused: int | None = None
        self.faulted = False  # an active trouble code (the coach's fault table): some devices then refuse to move

    @property
    def instances(self) -> list[tuple[str, int | None]]:
        """The (command DGN, instance) pairs routed to this model."""
        if self.spec.command_dgn is None:
            return []
        return [(self.spec.command_dgn, self.spec.instance)]

    def command(self, dgn: str, instance: int | None, values: Mapping[str, Any]) -> bool:
        """Apply a command; the default device is read-only and ignores it."""
        return False

    def step(self, dt: float, world: World) -> bool:
        """Advance the device by `dt` simulated seconds; the default device never changes by itself."""
        return False

    @abstractmethod
    def status(self) -> list[StatusFrame]:
        """The status frames the device broadcasts (every device has some)."""

    @property
    def busy(self) -> bool:
        """True while something changes quickly (a ramp, a motor, a start-up): the coach then ticks faster."""
        return False

    def dc_load_a(self) -> float:
        """DC current the device draws from the house bank now (A)."""
        return 0.0
