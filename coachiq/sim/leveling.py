"""The simulated hydraulic leveling controller (RV-C 6.13): four jacks and a level sensor.

It obeys LEVELING_CONTROL_COMMAND and reports LEVELING_CONTROL_STATUS, LEVELING_JACK_STATUS and
LEVELING_SENSOR_STATUS, as the document defines them:
- automatic leveling (mode 8, 81-84) lowers every jack to the ground, then raises the low corners until
  pitch and roll are within the level band; a corner that runs out of stroke first ends the attempt
  with the excessive-slope (final) warning;
- store (3) retracts every jack; abort (11) and inactive (0) stop at once; 99 clears the warnings;
- manual modes move the jacks (71: one corner each bit pair) or pairs (72: bi-axis slots) named in the
  command, and keep them moving for 250 ms after the last command, so a held control must be renewed
  every 100 ms (test profile 81C).
With the park brake released, the engine running or an active fault, the controller reports the lockout
and refuses every mode that moves a jack, answering the command with a negative acknowledgment ("conditions
do not allow it"); a lockout that arises mid-motion stops the jacks.

The coach stands on a slope (nose low, driver side low). A jack bears weight once its extension passes
the gap to the ground under it; the coach's pitch and roll follow the lift of the loaded corners.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from coachiq.sim.devices import SimDevice
from coachiq.sim.model import DeviceModel, StatusFrame, World, approach

__all__ = ["CORNERS", "LevelingController"]

CORNERS = ("left_front", "right_front", "left_rear", "right_rear")
# Bi-axis slots: which corner's bits carry which pair (test profile 81C, Table 6.13.14.1b).
BIAX_SLOTS: Mapping[str, tuple[str, ...]] = {
    "left_rear": ("left_rear", "right_rear"),  # rear pair
    "right_front": ("left_front", "right_front"),  # front pair
    "right_rear": ("right_front", "right_rear"),  # right pair
    "left_front": ("left_front", "left_rear"),  # left pair
}
STROKE_MM = 400.0
JACK_SPEED_MM_S = 50.0
JACK_SPAN_MM = 6000.0  # front to rear jacks
JACK_TRACK_MM = 2200.0  # driver side to passenger side jacks
LEVEL_BAND_DEG = 0.1  # automatic leveling stops inside this band
BELOW_LEVEL_DEG = 0.25  # the sensor's attitude bits flag a side lower than this
MANUAL_HOLD_S = 0.25  # a manual command keeps the jacks moving this long
_GROUND_TOLERANCE_MM = 1.0
_SLICE_S = 0.05  # the controller decides at least this often, however coarse the coach's tick

_AUTOMATIC = frozenset({8, 81, 82, 83, 84})
_MANUAL_FOUR_POINT = frozenset({7, 71, 74})
_MANUAL_BIAX = 72
_MANUAL_THREE_POINT = 73
_CONDITIONS_PREVENT = 3  # the negative acknowledgment "conditions do not allow it" (RV-C Table 7.5)
_INACTIVE, _STORE, _ABORT, _CLEAR = 0, 3, 11, 99
_MODE_CODES = {"inactive": 0, "store": 3, "manual_hydraulic_leveling": 7, "automatic_hydraulic_leveling": 8,
               "abort": 11, "manual_hydraulic_four_point": 71, "manual_hydraulic_biax": 72,
               "manual_hydraulic_three_point": 73, "manual_hydraulic_multi_point": 74,
               "automatic_hydraulic_four_point": 81, "automatic_hydraulic_biax": 82,
               "automatic_hydraulic_three_point": 83, "automatic_hydraulic_multi_point": 84,
               "clear_jack_error": 99}  # the hydraulic modes of LEVELING_CONTROL_COMMAND
_LABELS = {code: label for label, code in _MODE_CODES.items()}


class LevelingController(DeviceModel):
    """A four-point hydraulic leveling system on an uneven site."""

    period_s = 1.0  # the document's maximum gap for jack status (and control status while active)

    def __init__(self, spec: SimDevice) -> None:
        """Jacks stored; the site slopes `pitch_deg` / `roll_deg` (spec params) with the given ground gaps."""
        super().__init__(spec)
        params = spec.params
        self.base_pitch = float(params.get("pitch_deg", -1.2))  # type: ignore[arg-type]
        self.base_roll = float(params.get("roll_deg", -0.8))  # type: ignore[arg-type]
        gaps = params.get("ground_gap_mm", {"left_front": 60.0, "right_front": 90.0, "left_rear": 40.0,
                                            "right_rear": 110.0})
        assert isinstance(gaps, Mapping)
        self.gap = {corner: float(gaps[corner]) for corner in CORNERS}
        self.extension = dict.fromkeys(CORNERS, 0.0)  # mm
        self.mode = _INACTIVE
        self.moving: dict[str, str] = {}  # corner -> "extending" / "retracting"
        self.manual_left_s = 0.0
        self.slope_final_warning = False
        self.park_brake_lockout = False
        self.ignition_lockout = False

    # --- commands -------------------------------------------------------------------------------

    def command(self, dgn: str, instance: int | None, values: Mapping[str, Any]) -> bool:
        """Apply LEVELING_CONTROL_COMMAND; the status echo follows at once."""
        mode = _MODE_CODES.get(str(values.get("operating_mode")))
        if mode is None:
            return True  # a mode this controller does not have: it answers with its unchanged status
        if mode in (_INACTIVE, _ABORT):
            self._stop()
        elif mode == _CLEAR:
            self._stop()
            self.slope_final_warning = False
        elif self.locked_out:
            self._stop()  # refused: the lockout bits of the echo say why
            self.refused = _CONDITIONS_PREVENT
        elif mode == _STORE or mode in _AUTOMATIC:
            self.mode, self.moving = mode, {}
        elif mode in _MANUAL_FOUR_POINT or mode in (_MANUAL_BIAX, _MANUAL_THREE_POINT):
            self._manual(mode, values)
        return True

    def _manual(self, mode: int, values: Mapping[str, Any]) -> None:
        moving: dict[str, str] = {}
        for slot in CORNERS:
            for direction, verb in (("extending", "extend"), ("retracting", "retract")):
                if values.get(f"{slot}_{verb}") == "on":
                    corners = BIAX_SLOTS[slot] if mode == _MANUAL_BIAX else (slot,)
                    for corner in corners:
                        moving[corner] = direction
        self.mode, self.moving, self.manual_left_s = mode, moving, MANUAL_HOLD_S

    def _stop(self) -> None:
        self.mode, self.moving = _INACTIVE, {}

    @property
    def locked_out(self) -> bool:
        """True while a lockout keeps the jacks from moving (an active fault is the "other" lockout)."""
        return self.park_brake_lockout or self.ignition_lockout or self.faulted

    # --- physics --------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """A mode other than inactive is running."""
        return self.mode != _INACTIVE

    def step(self, dt: float, world: World) -> bool:
        """Follow the interlocks, run the mode, move the jacks (in slices of at most _SLICE_S)."""
        before = self._visible()
        self.park_brake_lockout = not world.park_brake_set
        self.ignition_lockout = world.engine_running
        if self.locked_out and self.mode != _INACTIVE:
            self._stop()
        slices = max(1, math.ceil(dt / _SLICE_S))
        for _ in range(slices):
            self._slice(dt / slices)
        return self._visible() != before

    def _slice(self, dt: float) -> None:
        if self.mode in _AUTOMATIC:
            self._auto()
        elif self.mode == _STORE:
            self.moving = {c: "retracting" for c in CORNERS if self.extension[c] > 0}
            if not self.moving:
                self.mode = _INACTIVE
        elif self.mode != _INACTIVE:  # manual: runs out unless renewed
            self.manual_left_s -= dt
            if self.manual_left_s <= 0:
                self._stop()
        step = JACK_SPEED_MM_S * dt
        for corner, direction in list(self.moving.items()):
            target = STROKE_MM if direction == "extending" else 0.0
            self.extension[corner] = approach(self.extension[corner], target, step)
            if self.extension[corner] == target and self.mode not in _AUTOMATIC:
                del self.moving[corner]  # end of stroke: the relief valve / limit stops it

    def _auto(self) -> None:
        """One decision of automatic leveling: ground every jack, then raise the low sides."""
        ungrounded = [c for c in CORNERS if not self.grounded(c)]
        if ungrounded:
            self.moving = dict.fromkeys(ungrounded, "extending")
            return
        pitch, roll = self.pitch, self.roll
        raise_: set[str] = set()
        if pitch < -LEVEL_BAND_DEG:
            raise_ |= {"left_front", "right_front"}
        elif pitch > LEVEL_BAND_DEG:
            raise_ |= {"left_rear", "right_rear"}
        if roll < -LEVEL_BAND_DEG:
            raise_ |= {"left_front", "left_rear"}
        elif roll > LEVEL_BAND_DEG:
            raise_ |= {"right_front", "right_rear"}
        if not raise_:
            self._stop()  # level
            return
        if any(self.extension[c] >= STROKE_MM for c in raise_):
            self.slope_final_warning = True  # out of stroke: this site cannot be levelled
            self._stop()
            return
        self.moving = dict.fromkeys(raise_, "extending")

    def grounded(self, corner: str) -> bool:
        """True when the jack bears weight on the ground."""
        return self.extension[corner] >= self.gap[corner] - _GROUND_TOLERANCE_MM and self.extension[corner] > 0

    def _lift(self, corner: str) -> float:
        return max(0.0, self.extension[corner] - self.gap[corner])

    @property
    def pitch(self) -> float:
        """Degrees, positive nose high."""
        front = (self._lift("left_front") + self._lift("right_front")) / 2
        rear = (self._lift("left_rear") + self._lift("right_rear")) / 2
        return self.base_pitch + math.degrees(math.atan((front - rear) / JACK_SPAN_MM))

    @property
    def roll(self) -> float:
        """Degrees, positive driver (left) side high."""
        left = (self._lift("left_front") + self._lift("left_rear")) / 2
        right = (self._lift("right_front") + self._lift("right_rear")) / 2
        return self.base_roll + math.degrees(math.atan((left - right) / JACK_TRACK_MM))

    def _visible(self) -> tuple[Any, ...]:
        return (self.mode, tuple(sorted(self.moving.items())), round(self.pitch, 2), round(self.roll, 2),
                tuple(self.extension[c] > 0 for c in CORNERS), tuple(self.grounded(c) for c in CORNERS),
                self.locked_out, self.slope_final_warning)

    # --- status ---------------------------------------------------------------------------------

    def status(self) -> list[StatusFrame]:
        """LEVELING_CONTROL_STATUS, LEVELING_JACK_STATUS and LEVELING_SENSOR_STATUS."""
        control: dict[str, Any] = {
            "operating_mode": _LABELS[self.mode],
            "jack_stabilization": "off", "air_sleep_mode": "off", "air_releveling_mode": "off",
            "excessive_slope_initial_warning": "inactive",
            "excessive_slope_final_warning": "active" if self.slope_final_warning else "inactive",
            "master_warning": "active" if any(self.extension[c] > 0 for c in CORNERS) else "inactive",
            "park_brake_lockout": "blocked" if self.park_brake_lockout else "clear",
            "ignition_lockout": "blocked" if self.ignition_lockout else "clear",
            "low_voltage_lockout": "clear", "other_lockout": "blocked" if self.faulted else "clear",
        }
        for corner in CORNERS:
            direction = self.moving.get(corner)
            control[f"{corner}_extending"] = "on" if direction == "extending" else "off"
            control[f"{corner}_retracting"] = "on" if direction == "retracting" else "off"
        jacks: dict[str, Any] = {"jack_type": "straight_acting", "jack_count": len(CORNERS)}
        for corner in CORNERS:
            jacks[f"{corner}_extended"] = "extended" if self.extension[corner] > 0 else "retracted"
            jacks[f"{corner}_loaded"] = "bearing_weight" if self.grounded(corner) else "not_loaded"
        pitch, roll = round(self.pitch, 2), round(self.roll, 2)
        sensor = {
            "pitch": pitch, "roll": roll,
            "front_low": _below(pitch < -BELOW_LEVEL_DEG), "rear_low": _below(pitch > BELOW_LEVEL_DEG),
            "driver_side_low": _below(roll < -BELOW_LEVEL_DEG), "passenger_side_low": _below(roll > BELOW_LEVEL_DEG),
        }  # single-sensor system: instance and secondary pitch not available
        return [("LEVELING_CONTROL_STATUS", control), ("LEVELING_JACK_STATUS", jacks),
                ("LEVELING_SENSOR_STATUS", sensor)]


def _below(low: bool) -> str:
    return "below_level" if low else "at_or_above_level"
