"""A real server with the j1939 feature on the simulated Class A coach: the chassis J1939 bus on the RV-C
bus and on a second bus, the vehicle state it feeds, and a j1939 feature that fails alone."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess, start_server
from tests.e2e.conftest import COACH_ENV, parked, require_simulated_coach, wait_for


def _features_file(folder: Path, text: str) -> str:
    path = folder / "features.yaml"
    path.write_text(text)
    return str(path)


@pytest.fixture(scope="module", params=["house", "chassis"])
def j1939_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The simulated coach with J1939 on the RV-C bus ("house") or on a second bus ("chassis")."""
    folder = tmp_path_factory.mktemp(f"j1939-{request.param}")
    env = {**COACH_ENV, "COACHIQ_FEATURES_FILE": _features_file(
        folder, f"features:\n  j1939:\n    enabled: true\n    settings: {{interface: {request.param}}}\n")}
    server = start_server(folder / "data", env=env)
    try:
        require_simulated_coach(server)
        wait_for(lambda: parked(server))
        yield server
    finally:
        server.stop()


def _get(server: ServerProcess, path: str) -> Any:
    answer = httpx.get(server.base_url + path)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_feature_runs_and_the_chassis_entity_is_served(j1939_server: ServerProcess) -> None:
    health = _get(j1939_server, "/health")
    assert health["features"]["j1939"]["status"] == "running", health["features"]["j1939"]
    entity = wait_for(lambda: (e := _get(j1939_server, "/api/v2/entities/chassis.engine"))["available"]
                      and all(e["state"][k] is not None for k in ("coolant_c", "fuel_level_pct", "engine_hours"))
                      and e)
    state = entity["state"]
    assert entity["type"] == "chassis" and state["gear"] == "park" and state["park_brake"] is True
    assert state["engine_hours"] >= 1234.5 and 0 <= state["fuel_level_pct"] <= 100
    chassis_list = _get(j1939_server, "/api/v2/entities?type=chassis")
    assert {e["id"] for e in chassis_list["entities"]} >= {"chassis.main", "chassis.engine"}


def test_driving_is_seen_on_the_chassis_bus_and_refuses_slides(j1939_server: ServerProcess) -> None:
    base = j1939_server.base_url
    try:
        assert httpx.post(base + "/api/v2/sim/chassis", json={"moving": True, "park_brake": False}).status_code == 200
        safety = wait_for(lambda: (s := _get(j1939_server, "/api/v2/safety"))["vehicle_state"] == "moving"
                          and s["interlocks"]["source"] == "j1939" and s)
        assert safety["interlocks"]["slides_awnings_allowed"] is False
        refused = httpx.post(base + "/api/v2/entities/slide.galley/commands",
                             json={"command": "extend", "params": {"duration_s": 2}})
        assert refused.status_code in (200, 409, 422), refused.text
        assert "refused" in refused.text and "moving" in refused.text
        engine = wait_for(lambda: (e := _get(j1939_server, "/api/v2/entities/chassis.engine"))["state"]
                          ["speed_kmh"] is not None and e["state"]["speed_kmh"] > 10 and e, timeout=15)
        assert engine["state"]["gear"] == "forward_6" and engine["state"]["engine_rpm"] > 700
        assert engine["state"]["fuel_rate_lph"] > 2
    finally:
        httpx.post(base + "/api/v2/sim/chassis", json={"moving": False, "park_brake": True})
    wait_for(lambda: parked(j1939_server), timeout=15)
    assert _get(j1939_server, "/api/v2/safety")["interlocks"]["source"] == "j1939"


def test_a_failing_j1939_feature_leaves_the_core_running(tmp_path: Path) -> None:
    # A real bus configured, but the chassis interface the feature is told to read does not exist.
    config = tmp_path / "coachiq.yaml"
    config.write_text("can_interfaces:\n  - {name: house, interface: virtual, channel: e2e-j1939-fail}\n")
    env = {"COACHIQ_CONFIG": str(config), "COACHIQ_FEATURES_FILE": _features_file(
        tmp_path, "features:\n  j1939:\n    enabled: true\n    settings: {interface: chassis}\n")}
    server = start_server(tmp_path / "data", env=env)
    try:
        health = _get(server, "/health")
        assert health["features"]["j1939"]["status"] == "failed"
        assert "j1939.interface is 'chassis'" in health["features"]["j1939"]["detail"]
        assert health["status"] == "degraded"
        assert all(s["status"] == "healthy" for s in health["core_services"].values()), health["core_services"]
        assert any(a["priority"] == "P2" and a["source"] == "j1939" for a in health["alerts"])
        assert httpx.get(server.base_url + "/readyz").status_code == 200
        assert _get(server, "/api/v2/entities?type=light")  # the core still serves the coach
    finally:
        server.stop()
