"""The choice of vehicle state among chassis sources: freshness, ranks, disagreement and its alert, gears."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from coachiq.core.alerts import AlertManager, Priority
from coachiq.state.vehicle_sources import (
    ALERT_KEY,
    J1939_RANK,
    MOVING,
    PARKED,
    RVC_RANK,
    UNKNOWN,
    Reading,
    VehicleSources,
)

NOW = 1_000_000.0


@dataclass
class FakeSource:
    name: str
    current: Reading = field(default_factory=lambda: Reading(None))

    def reading(self, now: float) -> Reading:
        return self.current


def two_sources(alerts: AlertManager | None = None) -> tuple[VehicleSources, FakeSource, FakeSource]:
    sources = VehicleSources(stale_s=5.0, alerts=alerts)
    rvc, j1939 = FakeSource("rvc"), FakeSource("j1939")
    sources.add(rvc, RVC_RANK)
    sources.add(j1939, J1939_RANK, stale_s=1.0)
    return sources, rvc, j1939


def test_nothing_heard_is_unknown() -> None:
    sources, _rvc, _j1939 = two_sources()
    view = sources.resolve(NOW)
    assert view.state == UNKNOWN and view.age_s is None and view.fresh == ()


def test_j1939_is_preferred_when_fresh() -> None:
    sources, rvc, j1939 = two_sources()
    rvc.current = Reading(NOW - 0.2, speed_kmh=0, park_brake=True, gear="park", engine_rpm=0)
    j1939.current = Reading(NOW - 0.05, speed_kmh=0.0, park_brake=True, gear="park", engine_rpm=650.0)
    view = sources.resolve(NOW)
    assert view.state == PARKED and view.source == "j1939" and view.fresh == ("j1939", "rvc")
    assert view.engine_rpm == 650.0  # from the best source


def test_stale_j1939_falls_back_to_rvc() -> None:
    sources, rvc, j1939 = two_sources()
    rvc.current = Reading(NOW - 0.2, speed_kmh=0, park_brake=True, gear="park")
    j1939.current = Reading(NOW - 1.5, speed_kmh=50.0, park_brake=False, gear="forward_6")  # its own 1 s limit
    view = sources.resolve(NOW)
    assert view.state == PARKED and view.source == "rvc" and view.fresh == ("rvc",)
    assert view.disagreement is None  # a stale source cannot disagree


def test_a_missing_value_is_taken_from_the_next_fresh_source() -> None:
    sources, rvc, j1939 = two_sources()
    rvc.current = Reading(NOW, speed_kmh=0, park_brake=True)
    j1939.current = Reading(NOW, speed_kmh=0.0, park_brake=None, gear="park")
    view = sources.resolve(NOW)
    assert view.park_brake is True and view.gear == "park" and view.state == PARKED


def test_all_stale_is_unknown_with_the_age_of_the_newest() -> None:
    sources, rvc, j1939 = two_sources()
    rvc.current = Reading(NOW - 7.0, speed_kmh=0)
    j1939.current = Reading(NOW - 6.0, speed_kmh=0.0)
    view = sources.resolve(NOW)
    assert view.state == UNKNOWN and view.age_s == pytest.approx(6.0) and view.fresh == ()


def test_speed_not_available_is_unknown() -> None:
    sources, rvc, _j1939 = two_sources()
    rvc.current = Reading(NOW, speed_kmh=None, park_brake=True)
    assert sources.resolve(NOW).state == UNKNOWN


@pytest.mark.parametrize("gear", ["forward_1", "reverse_1", 140])
def test_a_gear_engaged_counts_as_moving(gear: str | int) -> None:
    sources, rvc, _j1939 = two_sources()
    rvc.current = Reading(NOW, speed_kmh=0, park_brake=True, gear=gear)
    view = sources.resolve(NOW)
    assert view.state == MOVING and view.moving_reason == f"gear {gear} is engaged"


@pytest.mark.parametrize("gear", ["park", "neutral", None])
def test_park_neutral_or_unknown_gear_stands(gear: str | None) -> None:
    sources, rvc, _j1939 = two_sources()
    rvc.current = Reading(NOW, speed_kmh=0, park_brake=True, gear=gear)
    assert sources.resolve(NOW).state == PARKED


def test_motion_disagreement_counts_as_moving_and_alerts_after_a_second() -> None:
    alerts = AlertManager()
    sources, rvc, j1939 = two_sources(alerts)
    rvc.current = Reading(NOW, speed_kmh=0, park_brake=True, gear="park")
    j1939.current = Reading(NOW, speed_kmh=3.5, park_brake=True, gear="park")
    view = sources.resolve(NOW)
    assert view.state == MOVING and view.speed_kmh == 3.5  # the higher speed is shown
    assert view.disagreement == "rvc reports 0 km/h, j1939 reports 3.5 km/h" or \
        view.disagreement == "j1939 reports 3.5 km/h, rvc reports 0 km/h"
    assert [a for a in alerts.active if a.key == ALERT_KEY] == []  # not yet: a start is sampled unevenly
    rvc.current = Reading(NOW + 1.0, speed_kmh=0, park_brake=True, gear="park")
    j1939.current = Reading(NOW + 1.0, speed_kmh=3.5, park_brake=True, gear="park")
    sources.resolve(NOW + 1.0)
    raised = [a for a in alerts.active if a.key == ALERT_KEY]
    assert len(raised) == 1 and raised[0].priority is Priority.P2
    assert "j1939 reports 3.5 km/h" in raised[0].message and "rvc reports 0 km/h" in raised[0].message
    rvc.current = Reading(NOW + 1.2, speed_kmh=4, park_brake=True, gear="park")
    assert sources.resolve(NOW + 1.2).disagreement is None
    assert [a for a in alerts.active if a.key == ALERT_KEY] == []  # cleared as soon as they agree


def test_park_brake_disagreement_counts_as_moving_with_the_brake_released() -> None:
    alerts = AlertManager()
    sources, rvc, j1939 = two_sources(alerts)
    rvc.current = Reading(NOW, speed_kmh=0, park_brake=True, gear="park")
    j1939.current = Reading(NOW, speed_kmh=0.0, park_brake=False, gear="park")
    view = sources.resolve(NOW)
    assert view.state == MOVING and view.park_brake is False
    assert view.moving_reason is not None and "park brake" in view.moving_reason
    rvc.current = Reading(NOW + 1.0, speed_kmh=0, park_brake=True, gear="park")
    j1939.current = Reading(NOW + 1.0, speed_kmh=0.0, park_brake=False, gear="park")
    sources.resolve(NOW + 1.0)
    assert any(a.key == ALERT_KEY and "park brake released" in a.message for a in alerts.active)


def test_a_removed_source_is_no_longer_used() -> None:
    sources = VehicleSources(stale_s=5.0)
    j1939 = FakeSource("j1939", Reading(NOW, speed_kmh=20.0))
    remove = sources.add(j1939, J1939_RANK)
    assert sources.resolve(NOW).state == MOVING and sources.names == ["j1939"]
    remove()
    remove()  # twice is harmless
    assert sources.resolve(NOW).state == UNKNOWN and sources.names == []
