"""Faults injected into a running server on the simulated coach: each ends with motion stopped, a clear
alert, nothing lost that had been confirmed, and recovery once the fault clears."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from coachiq.core.alerts import Priority
from coachiq.features.base import SafeStateAction, SafetyClass
from coachiq.features.manager import FeatureDefinition
from tests.api_v2.conftest import Coach, serve_coach
from tests.can.conftest import FaultInjector
from tests.conftest import start_server, wait_for
from tests.e2e.conftest import COACH_ENV, parked, require_simulated_coach
from tests.e2e.conftest import wait_for as wait_for_sync

SLIDE = "slide.living_room"


async def parked_coach(coach: Coach) -> None:
    coach.sim.set_chassis(moving=False, park_brake=True)
    await wait_for(lambda: coach.runtime.core.state.interlocks()["slides_awnings_allowed"])


async def extend(coach: Coach, seconds: float = 20) -> None:
    answer = await coach.http.post(f"/api/v2/entities/{SLIDE}/commands",
                                   json={"command": "extend", "duration_s": seconds})
    assert answer.status_code == 200, answer.text
    assert coach.sim.devices[SLIDE].moving == "extending"


def slide_stopped(coach: Coach) -> bool:
    return coach.sim.devices[SLIDE].moving is None


async def test_can_interface_lost_in_the_middle_of_a_motion(tmp_path: Path) -> None:
    injector = FaultInjector()
    async with serve_coach(tmp_path / "data", bus_factory=injector.factory) as coach:
        await parked_coach(coach)
        await extend(coach)
        injector.recv_fails = True  # the adapter goes away while the slide runs
        await wait_for(lambda: any(a.key == "can:house" for a in coach.runtime.alerts.active))
        assert (await coach.http.get("/readyz")).status_code == 503
        safety = (await coach.http.get("/api/v2/safety")).json()
        assert safety["safe_state"] and any("house" in r for r in safety["reasons"])
        refused = await coach.http.post(f"/api/v2/entities/{SLIDE}/commands",
                                        json={"command": "extend", "duration_s": 5})
        assert refused.status_code == 409
        injector.recv_fails = False
        # Reopened after the back-off (1 s): the stop that could not go out goes out now, long before the
        # slide's own 20 s would have run out.
        await wait_for(lambda: slide_stopped(coach), timeout=6.0)
        await wait_for(lambda: not coach.runtime.alerts.has_active(Priority.P1), timeout=5.0)
        assert (await coach.http.get("/readyz")).status_code == 200
        await coach.runtime.core.entities.settle()
        audit = await coach.runtime.core.persistence.audit_entries(target=SLIDE)
        assert any(e.action == "extend" and e.result == "confirmed" for e in audit)
        await extend(coach, 2)  # recovered: the slide can be commanded again


async def test_database_locked_during_a_flush(tmp_path: Path) -> None:
    async with serve_coach(tmp_path / "data") as coach:
        await parked_coach(coach)
        await extend(coach)
        locker = sqlite3.connect(tmp_path / "data" / "coachiq.db", timeout=1)
        locker.execute("BEGIN EXCLUSIVE")  # another process holds the database
        try:
            light = await coach.http.post("/api/v2/entities/light.galley_ceiling/commands",
                                          json={"command": "set_brightness", "brightness": 37})
            assert light.status_code == 200  # the bus does not wait for the disk
            await wait_for(lambda: coach.runtime.core.persistence.last_error is not None, timeout=15.0)
            await wait_for(lambda: coach.runtime.alerts.has_active(Priority.P1), timeout=15.0)
            await wait_for(lambda: slide_stopped(coach), timeout=5.0)
        finally:
            locker.rollback()
            locker.close()
        await wait_for(lambda: coach.runtime.core.persistence.last_error is None, timeout=15.0)
        await wait_for(lambda: not coach.runtime.alerts.has_active(Priority.P1), timeout=15.0)
        states = await coach.runtime.core.persistence.load_entity_states()
        assert states["light.galley_ceiling"][0]["values"]["brightness"] == 37
        audit = await coach.runtime.core.persistence.audit_entries(limit=200)
        assert any(e.target == "light.galley_ceiling" and e.result == "confirmed" for e in audit), \
            [(e.action, e.result, e.reason) for e in audit if e.target == "light.galley_ceiling"]
        await extend(coach, 2)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[float], None]]:
    """Jump the wall clock of this process (the server's) by the given seconds.

    The system clock cannot be set without privileges; time.time is what every part of the server (and
    python-can's time stamps) reads it through.
    """
    offset = [0.0]
    real = time.time

    def shifted() -> float:
        return real() + offset[0]

    monkeypatch.setattr(time, "time", shifted)

    def jump(seconds: float) -> None:
        offset[0] += seconds

    yield jump


@pytest.mark.parametrize("seconds", [3600.0, -3600.0])
async def test_the_clock_jumping(tmp_path: Path, clock: Callable[[float], None], seconds: float) -> None:
    async with serve_coach(tmp_path / "data") as coach:
        await parked_coach(coach)
        await extend(coach)
        clock(seconds)
        await wait_for(lambda: any(a.key == "state:clock" for a in coach.runtime.alerts.active))
        assert "clock jumped" in next(a.message for a in coach.runtime.alerts.active if a.key == "state:clock")
        await wait_for(lambda: slide_stopped(coach), timeout=5.0)
        # The chassis is heard again on the new clock: parked, and the slide may move again.
        await wait_for(lambda: coach.runtime.core.state.vehicle_state() == "parked")
        await extend(coach, 2)


async def test_a_feature_hanging_in_start(tmp_path: Path) -> None:
    hanging = FeatureDefinition("hanging", True, [], SafetyClass.POSITION_CRITICAL, SafeStateAction.STOP_MOTION,
                                "hangs in start", {}, True)
    began = time.monotonic()
    async with serve_coach(tmp_path / "data", extra_features=[hanging],
                           implementations={"hanging": "tests.features.sample_features:HangingFeature"}) as coach:
        assert time.monotonic() - began < 10  # given up after feature_timeout (2 s), not an hour
        health = (await coach.http.get("/health")).json()
        assert health["status"] == "degraded"
        assert health["features"]["hanging"]["status"] == "failed"
        assert "did not start within 2 s" in health["features"]["hanging"]["detail"]
        alert = next(a for a in health["alerts"] if a["source"] == "hanging")
        assert alert["priority"] == "P2"
        assert (await coach.http.get("/readyz")).status_code == 200  # the core is not held up
        await parked_coach(coach)
        await extend(coach)
        stop = await coach.http.post("/api/v2/safety/emergency-stop")
        assert stop.status_code == 200
        await wait_for(lambda: slide_stopped(coach), timeout=5.0)
        await coach.http.post("/api/v2/safety/emergency-stop/clear")


def test_disk_full_during_a_flush(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data, env=COACH_ENV)
    pid = str(server.process.pid)
    try:
        require_simulated_coach(server)
        wait_for_sync(lambda: parked(server))
        base = server.base_url
        moving = httpx.post(f"{base}/api/v2/entities/{SLIDE}/commands", json={"command": "extend", "duration_s": 20})
        assert moving.status_code == 200, moving.text
        # No file of the server may grow by a byte: what a full SD card does to its writes.
        subprocess.run(["prlimit", "--pid", pid, "--fsize=0:unlimited"], check=True)
        try:
            light = httpx.post(f"{base}/api/v2/entities/light.galley_ceiling/commands",
                               json={"command": "set_brightness", "brightness": 41})
            assert light.status_code == 200, light.text

            def alerted() -> bool:
                report = httpx.get(f"{base}/health").json()
                return any(a["priority"] == "P1" and a["source"] == "persistence" for a in report["alerts"])

            wait_for_sync(alerted, timeout=20)
            wait_for_sync(lambda: httpx.get(f"{base}/api/v2/entities/{SLIDE}").json()["state"].get("motion")
                          in ("stopped", None) and httpx.get(f"{base}/readyz").status_code == 503, timeout=10)
        finally:
            subprocess.run(["prlimit", "--pid", pid, "--fsize=unlimited:unlimited"], check=True)
        wait_for_sync(lambda: httpx.get(f"{base}/readyz").status_code == 200, timeout=20)
        wait_for_sync(lambda: httpx.get(f"{base}/health").json()["core_services"]["persistence"]["status"]
                      == "healthy", timeout=20)
    finally:
        assert server.stop() == 0
    with sqlite3.connect(data / "coachiq.db") as db:
        rows = dict(db.execute("select entity_id, state from entity_state").fetchall())
        audit = db.execute("select target, result from audit_log where target = 'light.galley_ceiling'").fetchall()
    assert '"brightness": 41' in rows["light.galley_ceiling"].replace('":', '": ').replace(":  ", ": ")
    assert ("light.galley_ceiling", "confirmed") in audit


async def test_a_transmit_loop_that_dies_is_visible_from_outside_and_comes_back(tmp_path: Path) -> None:
    injector = FaultInjector()
    async with serve_coach(tmp_path / "data", bus_factory=injector.factory) as coach:
        await parked_coach(coach)
        await extend(coach)
        injector.send_raises = RuntimeError("injected: the driver failed in an unforeseen way")
        failed = await coach.http.post("/api/v2/entities/light.porch/commands", json={"command": "toggle"})
        assert failed.status_code == 409 and "transmit loop" in failed.json()["reason"]
        injector.send_raises = None
        # Logged, unhealthy, P1, /readyz 503 at once; the loop restarted; the safe state stops the slide.
        assert (await coach.http.get("/readyz")).status_code == 503
        health = (await coach.http.get("/health")).json()
        assert health["status"] == "unhealthy" and "transmit loop" in health["core_services"]["can"]["detail"]
        assert any(a["priority"] == "P1" and "transmit loop" in a["message"] for a in health["alerts"])
        await wait_for(lambda: slide_stopped(coach), timeout=5.0)
        await wait_for(lambda: not coach.runtime.alerts.has_active(Priority.P1), timeout=10.0)
        assert (await coach.http.get("/readyz")).status_code == 200
        light = await coach.http.post("/api/v2/entities/light.porch/commands", json={"command": "toggle"})
        assert light.status_code == 200, light.text
