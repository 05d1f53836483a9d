"""Core services start in a fixed order, stop in reverse, and a failure stops those already started."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from coachiq.composition import CoreServices
from coachiq.core.alerts import AlertManager, Priority
from coachiq.core.errors import CoreStartError
from coachiq.core.metrics import Metrics
from coachiq.core.service import Health, ServiceStartError, Status
from coachiq.core.services import ServiceGroup
from coachiq.settings import Settings
from tests.conftest import run_cli


class Recorder:
    """A service that records its lifecycle calls; it can fail to start or to stop, or hang at stop."""

    def __init__(self, name: str, log: list[str], fail_start: Exception | None = None,
                 fail_stop: bool = False, hang_stop: bool = False) -> None:
        self.name = name
        self.log = log
        self.fail_start = fail_start
        self.fail_stop = fail_stop
        self.hang_stop = hang_stop
        self.healthy = True

    async def start(self) -> None:
        self.log.append(f"start {self.name}")
        if self.fail_start:
            raise self.fail_start

    async def stop(self) -> None:
        self.log.append(f"stop {self.name}")
        if self.hang_stop:
            await asyncio.sleep(3600)
        if self.fail_stop:
            raise RuntimeError("stop failed")

    async def health(self) -> Health:
        return Health(Status.HEALTHY if self.healthy else Status.UNHEALTHY, "ok" if self.healthy else "broken")


def group(*services: Recorder) -> ServiceGroup:
    return ServiceGroup(list(services), AlertManager(), Metrics())


async def test_start_in_order_and_stop_in_reverse() -> None:
    log: list[str] = []
    services = group(Recorder("a", log), Recorder("b", log), Recorder("c", log))
    await services.start()
    await services.stop()
    assert log == ["start a", "start b", "start c", "stop c", "stop b", "stop a"]


async def test_failure_stops_started_services_in_reverse_and_names_the_service() -> None:
    log: list[str] = []
    failing = Recorder("b", log, fail_start=ServiceStartError("disk full", "free some space"))
    services = group(Recorder("a", log), failing, Recorder("c", log))
    with pytest.raises(CoreStartError) as caught:
        await services.start()
    assert log == ["start a", "start b", "stop a"]
    assert str(caught.value) == "core service 'b' failed: disk full — free some space"


async def test_unexpected_exception_is_reported_as_a_start_failure() -> None:
    log: list[str] = []
    services = group(Recorder("a", log), Recorder("b", log, fail_start=KeyError("boom")))
    with pytest.raises(CoreStartError, match="core service 'b' failed: KeyError"):
        await services.start()
    assert log[-1] == "stop a"


async def test_a_failing_or_hanging_stop_does_not_keep_the_others_running() -> None:
    log: list[str] = []
    services = group(Recorder("a", log), Recorder("b", log, fail_stop=True), Recorder("c", log, hang_stop=True))
    await services.start()
    await services.stop(timeout=0.3)
    assert log[3:] == ["stop c", "stop b", "stop a"]
    assert services.started == []


async def test_unhealthy_core_service_raises_a_p1_alert_and_clears_it() -> None:
    log: list[str] = []
    service = Recorder("a", log)
    services = group(service)
    await services.start()
    service.healthy = False
    await services.check_health()
    assert services.alerts.has_active(Priority.P1)
    service.healthy = True
    await services.check_health()
    assert not services.alerts.active
    await services.stop()


def test_core_services_have_a_fixed_order(tmp_path: Path) -> None:
    core = CoreServices(Settings(data_dir=tmp_path), Metrics())
    names = [s.name for s in core.ordered()]
    assert names[:3] == ["database", "persistence", "can"]


def test_cli_reports_a_failing_core_service_in_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    from tests.conftest import clean_env

    result = run_cli("serve", "--port", "1", env=clean_env(COACHIQ_DATA_DIR=str(blocker / "data")))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("coachiq: core service 'database' failed: cannot create ")
    assert "Not a directory" in lines[0]
    assert "set COACHIQ_DATA_DIR to a writable folder" in lines[0]
    assert "Traceback" not in result.stderr


class Answering(Recorder):
    """A service whose health answer the test hands over, at a moment of its choosing."""

    def __init__(self, name: str, log: list[str]) -> None:
        super().__init__(name, log)
        self.answer: asyncio.Future[Health] | None = None

    async def health(self) -> Health:
        self.answer = asyncio.get_running_loop().create_future()
        return await self.answer


async def test_a_health_round_cancelled_as_a_service_answers_still_ends() -> None:
    # The health loop is cancelled at shutdown. If that lands in the same pass of the event loop as a
    # service's answer, the round must still end: a lost cancellation would keep the server from stopping.
    service = Answering("a", [])
    services = group(service)
    await services.start()
    round_ = asyncio.create_task(services.check_health())
    while service.answer is None:
        await asyncio.sleep(0)
    service.answer.set_result(Health(Status.HEALTHY, "ok"))
    round_.cancel()
    with pytest.raises(asyncio.CancelledError):
        await round_
    await services.stop()
