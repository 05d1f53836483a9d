"""What the chassis bus says, folded from decoded parameter groups into one chassis state. Pure: no I/O.

`ChassisState.apply(name, values, timestamp)` takes the values of one decoded group (EEC1, CCVS1, ...)
and returns True when a value the owner sees changed. Values are rounded to what a display needs
(whole rpm, tenths of km/h), so engine-speed jitter below a display step does not count as a change.
The vehicle-state reading (speed, park brake, gear, engine speed) keeps the time each group was last
decoded; repeats dropped before decoding are added by the caller from the receive filter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from coachiq.features.j1939.dm1 import LAMPS, Dm1
from coachiq.state.vehicle_sources import STANDING_GEARS

__all__ = ["ENTITY_FIELDS", "ChassisState", "rounded"]

# Entity value -> (group, field, digits after the point; None keeps labels as they are)
ENTITY_FIELDS: Mapping[str, tuple[str, str, int | None]] = {
    "engine_rpm": ("EEC1", "engine_speed", 0),
    "speed_kmh": ("CCVS1", "wheel_based_speed", 1),
    "cruise_control": ("CCVS1", "cruise_control_active", None),
    "gear": ("ETC2", "current_gear", None),
    "selected_gear": ("ETC2", "selected_gear", None),
    "coolant_c": ("ET1", "coolant_temperature", 0),
    "oil_pressure_kpa": ("EFL_P1", "oil_pressure", 0),
    "fuel_level_pct": ("DD1", "fuel_level_1", 1),
    "fuel_rate_lph": ("LFE1", "fuel_rate", 1),
    "engine_hours": ("HOURS", "engine_total_hours", 1),
    "battery_v": ("VEP1", "battery_potential", 2),
}
_BY_GROUP: dict[str, list[tuple[str, str, int | None]]] = {}
for _key, (_group, _field, _digits) in ENTITY_FIELDS.items():
    _BY_GROUP.setdefault(_group, []).append((_key, _field, _digits))


def rounded(value: Any, digits: int | None) -> Any:
    """A number rounded for display (whole numbers as int); labels and None unchanged."""
    if digits is None or not isinstance(value, int | float):
        return value
    if digits == 0:
        return round(value)
    return round(float(value), digits)


class ChassisState:
    """The chassis as the J1939 groups describe it."""

    __slots__ = ("dm1", "engine_rpm", "heard", "park_brake", "speed_kmh", "values")

    def __init__(self) -> None:
        """Nothing known yet."""
        self.values: dict[str, Any] = {}
        self.park_brake: bool | None = None
        # Unrounded, for the vehicle state: a coach creeping at 0.04 km/h is moving.
        self.speed_kmh: float | None = None
        self.engine_rpm: float | None = None
        self.heard: dict[str, float] = {}  # group -> time of its last decoded frame
        self.dm1: dict[int, Dm1] = {}  # source address -> its last DM1

    def apply(self, group: str, decoded: Mapping[str, Any], timestamp: float) -> bool:
        """Fold one decoded group in; True when an entity value changed."""
        heard = self.heard.get(group)
        if heard is None or timestamp > heard:
            self.heard[group] = timestamp
        changed = False
        values = self.values
        for key, field, digits in _BY_GROUP.get(group, ()):
            value = rounded(decoded.get(field), digits)
            if values.get(key, ...) != value:
                values[key] = value
                changed = True
        if group == "EEC1":
            self.engine_rpm = decoded.get("engine_speed")
        elif group == "CCVS1":
            self.speed_kmh = decoded.get("wheel_based_speed")
            brake = decoded.get("park_brake_switch")
            park_brake = None if brake is None else brake == "set"
            if park_brake != self.park_brake or "park_brake" not in values:
                self.park_brake = park_brake
                values["park_brake"] = park_brake
                changed = True
        return changed

    def apply_dm1(self, source_address: int, dm1: Dm1, timestamp: float) -> bool:
        """Fold in one controller's active codes and lamps; True when the chassis's codes or lamps changed.

        Each controller sends its own DM1: one that reports no code does not clear another's. The lamps
        shown are on when any controller has them on.
        """
        self.heard["DM1"] = timestamp
        self.dm1[source_address] = dm1
        codes = [{"source_address": address, **code.to_json()}
                 for address in sorted(self.dm1) for code in self.dm1[address].codes]
        lamps: dict[str, str | None] = {}
        for name in LAMPS:
            states = {dm1.lamps.get(name) for dm1 in self.dm1.values()}
            lamps[name] = "on" if "on" in states else "off" if "off" in states else None
        if self.values.get("trouble_codes") == codes and self.values.get("lamps") == lamps:
            return False
        self.values["trouble_codes"] = codes
        self.values["lamps"] = lamps
        return True

    def reading_values(self) -> tuple[float | None, bool | None, Any, float | None]:
        """Road speed (km/h), park brake set, current gear and engine speed for the vehicle state."""
        return self.speed_kmh, self.park_brake, self.values.get("gear"), self.engine_rpm

    def interlock_inputs(self) -> tuple[bool | None, bool | None, bool | None, bool | None]:
        """What the interlocks ask of the reading: rolling (speed above 0), park brake set, gear standing
        (park or neutral), engine running; None where not known. A change of any of these must reach the
        motion supervisor at once; a change within them (speed 40 -> 41 km/h, 800 -> 810 rpm) need not."""
        speed, rpm, gear = self.speed_kmh, self.engine_rpm, self.values.get("gear")
        return (None if speed is None else speed > 0, self.park_brake,
                None if gear is None else gear in STANDING_GEARS, None if rpm is None else rpm > 0)
