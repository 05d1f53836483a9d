"""A simulated Firefly (Vegatouch) multiplex system, as public integrations describe one behaving.

- Every load re-broadcasts its DC_DIMMER_STATUS_3 continuously (every second here), changed or not.
- Awnings and shades are two DC loads each, extend and retract, and the module interlocks them: an
  activation arriving while the opposite load is on, or less than `settle_s` after it went off, is
  blocked (rvc2hass found that a back-to-back deactivate + activate is refused by the interlock and
  waits 250 ms in between). Blocked activations are counted in `interlock_trips`, so a test can prove
  a controller never provoked one.
- A dimmer brightness change is a ramp (DC_DIMMER_COMMAND_2 code 0x11) that a controller finishes
  with codes 0x15 then 0x04; the module counts ramps not finished that way (`open_ramps`). What a real
  module does with an unfinished ramp is not documented publicly, so nothing else happens here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from coachiq.sim.devices import SimDevice
from coachiq.sim.loads import DcLoad, DcOutput, apply_dimmer_command
from coachiq.sim.model import DeviceModel, StatusFrame, World, clamp

__all__ = ["REBROADCAST_S", "FireflyDimmer", "FireflyPair"]

REBROADCAST_S = 1.0
SETTLE_S = 0.2  # less than the 250 ms rvc2hass waits, so a controller that waits 250 ms never trips it


class FireflyDimmer(DcLoad):
    """A Firefly dimmer output: plain RV-C dimmer behaviour, continuous status, ramps counted."""

    period_s = REBROADCAST_S

    def __init__(self, spec: SimDevice) -> None:
        """Off, no ramp open."""
        super().__init__(spec)
        assert spec.instance is not None
        self.output = DcOutput(spec.instance, dimmable=True, group=spec.group)
        self.open_ramps = 0
        self.finished_ramps = 0
        self._finishing = False
        self._goal: float | None = None

    def command(self, dgn: str, instance: int | None, values: Mapping[str, Any]) -> bool:
        """Apply the command; a 0x15 then 0x04 after a ramp finishes it at the level reached."""
        code = values.get("command")
        if code == "ramp_brightness":
            self.open_ramps = 1  # a new ramp replaces one still open
            self._finishing = False
            level = values.get("desired_level")
            self._goal = float(level) if isinstance(level, int | float) else None
        elif code == "ramp_up_down" and self.open_ramps:
            self._finishing = True
        elif code == "stop" and self._finishing:
            self._finishing = False
            self.open_ramps -= 1
            self.finished_ramps += 1
            # The module settles at the level the ramp asked for.
            apply_dimmer_command(self.output, values)
            if self._goal is not None:
                self.output.apply("set_level", self._goal, None, None)
            return True
        apply_dimmer_command(self.output, values)
        return True


class FireflyPair(DeviceModel):
    """An awning or shade on two DC loads (extend, retract) with the module's hardware interlock."""

    period_s = REBROADCAST_S
    settle_s = SETTLE_S

    def __init__(self, spec: SimDevice) -> None:
        """Retracted, both loads off."""
        super().__init__(spec)
        assert spec.extend_instance is not None and spec.retract_instance is not None
        self.extend = DcOutput(spec.extend_instance, dimmable=False, group=spec.group)
        self.retract = DcOutput(spec.retract_instance, dimmable=False, group=spec.group)
        self.travel_s = spec.travel_s or 10.0
        self.position = 0.0
        self.clock = 0.0  # simulated seconds since start (the coach advances it before every command)
        self._off_at = {self.extend.instance: -1e9, self.retract.instance: -1e9}
        self.interlock_trips = 0
        self.both_on_seen = 0
        self.commands: list[tuple[float, int, str]] = []  # (clock, instance, command), for tests

    @property
    def instances(self) -> list[tuple[str, int | None]]:
        """Both loads take DC_DIMMER_COMMAND_2."""
        assert self.spec.command_dgn is not None
        return [(self.spec.command_dgn, self.extend.instance), (self.spec.command_dgn, self.retract.instance)]

    @property
    def busy(self) -> bool:
        """A load is on or timed."""
        return self.extend.on or self.retract.on or self.extend.busy or self.retract.busy

    def command(self, dgn: str, instance: int | None, values: Mapping[str, Any]) -> bool:
        """Apply a command to one load, unless the interlock blocks its activation."""
        output, other = (self.extend, self.retract) if instance == self.extend.instance else (self.retract,
                                                                                          self.extend)
        self.commands.append((self.clock, output.instance, str(values.get("command"))))
        was_on = output.on
        apply_dimmer_command(output, values)
        if output.on and not was_on and (other.on or self.clock - self._off_at[other.instance] < self.settle_s):
            output.apply("off_delay", None, None, None)
            self.interlock_trips += 1
        if was_on and not output.on:
            self._off_at[output.instance] = self.clock
        return True

    def step(self, dt: float, world: World) -> bool:
        """Move while a load is on; drop it at the end of travel or when its duration ends."""
        self.clock += dt
        if self.extend.on and self.retract.on:
            self.both_on_seen += 1
        before = (self.extend.on, self.retract.on)
        speed = 100.0 * dt / self.travel_s
        if self.extend.on:
            self.position = clamp(self.position + speed, 0.0, 100.0)
            if self.position >= 100.0:
                self.extend.apply("off_delay", None, None, None)
        elif self.retract.on:
            self.position = clamp(self.position - speed, 0.0, 100.0)
            if self.position <= 0.0:
                self.retract.apply("off_delay", None, None, None)
        changed = self.extend.step(dt) | self.retract.step(dt)
        for output, was_on in zip((self.extend, self.retract), before, strict=True):
            if was_on and not output.on:
                self._off_at[output.instance] = self.clock
                changed = True
        return changed

    def status(self) -> list[StatusFrame]:
        """DC_DIMMER_STATUS_3 of both loads."""
        return [("DC_DIMMER_STATUS_3", self.extend.values()), ("DC_DIMMER_STATUS_3", self.retract.values())]
