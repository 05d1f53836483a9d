"""Vehicle state from the best fresh source: the chassis J1939 bus when it is fresh, RV-C otherwise.

Each source (RV-C CHASSIS_MOBILITY_STATUS, the j1939 feature's CCVS1/EEC1/ETC2) gives a `Reading`:
when it was last heard and what it says about road speed, park brake, gear and engine speed. A source
is fresh while its last frame is no older than the stale interval. `VehicleSources.resolve` combines the
fresh ones, best rank first (J1939 before RV-C), and decides on the safe side:

- no fresh source, or none that knows the road speed: the state is unknown (counts as unsafe);
- any fresh source reporting speed above 0: moving;
- two fresh sources disagreeing about motion (one stands, one rolls) or about the park brake (one set,
  one released): moving, and the reason says which source said what;
- a gear engaged other than park or neutral: counts as moving (the coach can roll at any moment);
- otherwise parked.

A disagreement that lasts `alert_after_s` raises a P2 alert naming both sources; it clears as soon as
the sources agree again or one of them goes stale. Pure bookkeeping: no I/O, no tasks.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from coachiq.core.alerts import AlertManager, Priority

__all__ = ["ALERT_KEY", "J1939_RANK", "MOVING", "PARKED", "RVC_RANK", "UNKNOWN", "Reading", "VehicleSource",
           "VehicleSources", "VehicleView"]

ALERT_KEY = "vehicle:sources"
J1939_RANK = 0  # the chassis's own bus: first-hand, and 10 times a second
RVC_RANK = 10  # CHASSIS_MOBILITY_STATUS, usually relayed by a gateway
ALERT_AFTER_S = 1.0  # sources sampled at different moments disagree briefly when the coach starts or stops
# Gears in which the coach cannot drive off: anything else counts as possibly moving.
STANDING_GEARS = frozenset({"park", "neutral"})

PARKED = "parked"
MOVING = "moving"
UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Reading:
    """What one source says now. `heard` is the time (epoch seconds) of its last frame, None: never."""

    heard: float | None
    speed_kmh: float | None = None
    park_brake: bool | None = None  # True: set
    gear: str | int | None = None  # current gear label (park, neutral, forward_N, reverse_N) or raw number
    engine_rpm: float | None = None


# How far a source's last frame may lie ahead of the wall clock before it counts as heard in the future.
CLOCK_TOLERANCE_S = 0.5


class VehicleSource(Protocol):
    """A source of vehicle state; `reading(now)` must be cheap (called at every safety check)."""

    name: str

    def reading(self, now: float) -> Reading:
        """The source's latest reading."""


@dataclass(frozen=True, slots=True)
class VehicleView:
    """The combined vehicle state and why."""

    state: str  # parked, moving, unknown
    source: str | None  # the best fresh source, the one whose values are shown
    speed_kmh: float | None
    park_brake: bool | None
    gear: str | int | None
    engine_rpm: float | None
    age_s: float | None  # age of the freshest source's last frame; None: no source ever heard
    fresh: tuple[str, ...]  # names of the fresh sources, best first
    moving_reason: str | None  # why the coach counts as moving
    disagreement: str | None  # what two fresh sources disagree about


class VehicleSources:
    """The registered sources of vehicle state and the alert about their disagreement."""

    def __init__(self, stale_s: float, alerts: AlertManager | None = None,
                 alert_after_s: float = ALERT_AFTER_S) -> None:
        """`stale_s`: a source whose last frame is older is not used (its own `stale_s` may be shorter)."""
        self.stale_s = stale_s
        self.alerts = alerts
        self.alert_after_s = alert_after_s
        self._sources: list[tuple[int, int, VehicleSource, float]] = []  # (rank, order, source, stale_s)
        self._order = itertools.count()
        self._disagreeing_since: float | None = None
        self._alerted: str | None = None

    def add(self, source: VehicleSource, rank: int, stale_s: float | None = None) -> Callable[[], None]:
        """Use `source` (lower rank wins); returns a function that removes it again."""
        entry = (rank, next(self._order), source, self.stale_s if stale_s is None else stale_s)
        self._sources.append(entry)
        self._sources.sort(key=lambda e: (e[0], e[1]))

        def remove() -> None:
            if entry in self._sources:
                self._sources.remove(entry)

        return remove

    @property
    def names(self) -> list[str]:
        """Names of the registered sources, best first."""
        return [source.name for _rank, _order, source, _stale in self._sources]

    def resolve(self, now: float) -> VehicleView:
        """The vehicle state from the fresh sources (see the module text); updates the alert."""
        fresh: list[tuple[str, Reading]] = []
        newest: float | None = None
        for _rank, _order, source, stale_s in self._sources:
            reading = source.reading(now)
            if reading.heard is None:
                continue
            if reading.heard - now > CLOCK_TOLERANCE_S:
                continue  # heard "in the future": the clock went back; nothing is known until the next frame
            newest = reading.heard if newest is None else max(newest, reading.heard)
            if now - reading.heard <= stale_s:
                fresh.append((source.name, reading))
        age = None if newest is None else max(0.0, now - newest)
        disagreement = _disagreement(fresh)
        self._update_alert(disagreement, now)
        speeds = [r.speed_kmh for _n, r in fresh if r.speed_kmh is not None]
        speed = max(speeds) if disagreement and speeds else _first(r.speed_kmh for _n, r in fresh)
        brake = _first(r.park_brake for _n, r in fresh)
        if disagreement and any(r.park_brake is False for _n, r in fresh):
            brake = False  # one source says released: the safe reading
        gear = _first(r.gear for _n, r in fresh)
        rpm = _first(r.engine_rpm for _n, r in fresh)
        best = fresh[0][0] if fresh else None
        if speed is None:
            return VehicleView(UNKNOWN, best, None, brake, gear, rpm, age, tuple(n for n, _ in fresh),
                               None, disagreement)
        reason = None
        if speed > 0:
            reason = f"road speed {_number(speed)} km/h"
        elif disagreement:
            reason = f"the chassis sources disagree: {disagreement}"
        elif gear is not None and gear not in STANDING_GEARS:
            reason = f"gear {gear} is engaged"
        return VehicleView(MOVING if reason else PARKED, best, speed, brake, gear, rpm, age,
                           tuple(n for n, _ in fresh), reason, disagreement)

    def _update_alert(self, disagreement: str | None, now: float) -> None:
        if disagreement is None:
            self._disagreeing_since = None
            if self._alerted is not None:
                self._alerted = None
                if self.alerts is not None:
                    self.alerts.clear(ALERT_KEY)
            return
        if self._disagreeing_since is None:
            self._disagreeing_since = now
        if now - self._disagreeing_since >= self.alert_after_s and self._alerted != disagreement:
            self._alerted = disagreement
            if self.alerts is not None:
                self.alerts.raise_alert(ALERT_KEY, Priority.P2, "state",
                                        f"chassis sources disagree, the coach counts as moving: {disagreement}")


def _first(values: Iterable[Any]) -> Any:
    """The first value that is not None (None when there is none)."""
    for value in values:
        if value is not None:
            return value
    return None


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, int) else f"{value:.1f}".rstrip("0").rstrip(".")


def _disagreement(fresh: list[tuple[str, Reading]]) -> str | None:
    """What the fresh sources disagree about (motion, park brake), in words; None when they agree."""
    problems = []
    speeds = [(name, r.speed_kmh) for name, r in fresh if r.speed_kmh is not None]
    if len({speed > 0 for _n, speed in speeds}) > 1:
        problems.append(", ".join(f"{name} reports {_number(speed)} km/h" for name, speed in speeds))
    brakes = [(name, r.park_brake) for name, r in fresh if r.park_brake is not None]
    if len({brake for _n, brake in brakes}) > 1:
        problems.append(", ".join(f"{name} reports the park brake {'set' if brake else 'released'}"
                                  for name, brake in brakes))
    return "; ".join(problems) or None
