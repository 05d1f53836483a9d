"""The running server: core services first, then features, a health loop, and the reverse at stop."""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI

from coachiq import __version__
from coachiq.can.interface import BusFactory, open_bus
from coachiq.composition import CoreServices
from coachiq.core.access import AccessControl
from coachiq.core.alerts import AlertManager
from coachiq.core.metrics import Metrics
from coachiq.core.service import Status
from coachiq.core.systemd import SystemdNotifier
from coachiq.core.tasks import cancel_all, sleep_aligned
from coachiq.features.manager import IMPLEMENTATIONS, FeatureDefinition, FeatureManager
from coachiq.settings import Settings

if TYPE_CHECKING:
    from coachiq.sim.coach import SimulatedCoach

log = logging.getLogger(__name__)

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def rss_bytes() -> int:
    """Resident memory of this process."""
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[1]) * _PAGE_SIZE


def chassis_bus(features: list[FeatureDefinition]) -> str | None:
    """The CAN interface the j1939 feature reads when it is enabled (None: the feature is off)."""
    for definition in features:
        if definition.name == "j1939" and definition.enabled:
            return str(definition.settings.get("interface", "house"))
    return None


class CpuMeter:
    """CPU use of this process, in % of one core, between successive readings."""

    def __init__(self) -> None:
        self._last = (time.monotonic(), self._cpu())

    @staticmethod
    def _cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def percent(self) -> float:
        """CPU % since the previous reading (or since start)."""
        now, cpu = time.monotonic(), self._cpu()
        then, cpu_then = self._last
        self._last = (now, cpu)
        return round(100.0 * (cpu - cpu_then) / max(now - then, 1e-6), 1)


class Runtime:
    """Owns the core services and the feature manager of one server."""

    def __init__(self, settings: Settings, features: list[FeatureDefinition],
                 implementations: Mapping[str, str] = IMPLEMENTATIONS, bus_factory: BusFactory = open_bus) -> None:
        """`bus_factory` opens the CAN buses (python-can's by default)."""
        self.settings = settings
        self.metrics = Metrics()
        self.core = CoreServices(settings, self.metrics,
                                 simulated_buses=[bus] if (bus := chassis_bus(features)) else [],
                                 bus_factory=bus_factory)
        self.alerts: AlertManager = self.core.alerts
        self.feature_definitions = features
        self.implementations = implementations
        # The access gate is installed when authentication is enabled; the feature supplies its authenticator.
        self.access = AccessControl(required=any(f.name == "authentication" and f.enabled for f in features))
        self.features: FeatureManager | None = None
        self.started_at = time.time()
        self.cpu = CpuMeter()
        self.systemd = SystemdNotifier()
        self._tasks: list[asyncio.Task[None]] = []
        self._add_router: Callable[[APIRouter], Callable[[], None]] | None = None
        self._app: FastAPI | None = None
        self.simulation: SimulatedCoach | None = None

    def bind_app(self, app: FastAPI) -> None:
        """Let features add routes to `app` (and remove them again)."""
        self._app = app

        def add_router(router: APIRouter) -> Callable[[], None]:
            before = list(app.router.routes)
            app.include_router(router)
            added = [r for r in app.router.routes if r not in before]
            # A feature's routes come first: they answer in place of a core route that refuses while the
            # feature is off (the raw-frame route of can_tools).
            app.router.routes[:] = [*added, *before]
            app.openapi_schema = None

            def remove() -> None:
                for route in added:
                    if route in app.router.routes:
                        app.router.routes.remove(route)
                app.openapi_schema = None

            return remove

        self._add_router = add_router

    async def start(self) -> None:
        """Start the core (raises CoreStartError), then the features and the health loop."""
        await self.core.start()
        await self.start_features()

    async def start_simulation(self) -> None:
        """Without CAN hardware, start the simulated coach on the virtual bus the core listens to."""
        if not self.settings.simulated or self.simulation is not None:
            return
        from coachiq.can.interface import SIMULATED_CHANNEL, simulated_channel
        from coachiq.features.j1939 import load_database
        from coachiq.rvc import Codec
        from coachiq.sim.coach import SimulatedCoach
        from coachiq.sim.devices import COACHES
        from coachiq.sim.j1939 import DRIVETRAIN_COACHES

        coach = self.settings.coach
        if coach not in COACHES:
            log.warning("coach %r has no simulation (simulated coaches: %s); the bus stays quiet", coach,
                        ", ".join(sorted(COACHES)))
            return
        bus = chassis_bus(self.feature_definitions)
        # With the j1939 feature on, the simulated chassis also talks J1939 on the bus the feature reads.
        j1939_channel = simulated_channel(bus) if bus is not None and coach in DRIVETRAIN_COACHES else None
        j1939_codec = Codec(await asyncio.to_thread(load_database)) if j1939_channel is not None else None
        self.simulation = SimulatedCoach(SIMULATED_CHANNEL, coach, codec=self.core.rvc.codec,
                                         j1939_channel=j1939_channel, j1939_codec=j1939_codec)
        await self.simulation.start()
        if self._app is not None:
            self._app.state.sim = self.simulation
        log.info("simulated coach %s running", coach)

    async def start_features(self) -> None:
        """With the core up: start the simulation when there is no CAN hardware, the features in
        dependency order and the health loop; tell systemd."""
        await self.start_simulation()
        await self.core.check_health()
        if self._add_router is None:
            raise RuntimeError("bind_app must be called before start")
        self.features = FeatureManager(self.feature_definitions, self.core, self._add_router, self.alerts,
                                       self.metrics, self.settings.feature_timeout, self.implementations,
                                       access=self.access, retry_s=self.settings.feature_retry_s)
        await self.features.start_all()
        self._tasks.append(asyncio.create_task(self._health_loop(), name="health-loop"))
        if self.systemd.enabled:
            self.systemd.notify("READY=1")
            if self.systemd.watchdog_interval_s:
                self._tasks.append(asyncio.create_task(self._watchdog_loop(), name="systemd-watchdog"))

    async def stop(self) -> None:
        """Stop the health loop, the features in reverse order, then the core in reverse order."""
        if self.systemd.enabled:
            self.systemd.notify("STOPPING=1")
        await cancel_all(self._tasks)
        if self.features is not None:
            await self.features.stop_all()
        if self.simulation is not None:
            try:
                await self.simulation.stop()
            except Exception:
                log.exception("stopping the simulated coach failed")
            self.simulation = None
        await self.core.stop()

    async def _health_loop(self) -> None:
        while True:
            # Half a second off the whole-second tick: a health round queries the database.
            await sleep_aligned(self.settings.health_interval, phase=min(0.5, self.settings.health_interval / 2))
            try:
                await self.core.check_health()
                if self.features is not None:
                    self.features.health()
            except Exception:
                log.exception("health check round failed")

    async def _watchdog_loop(self) -> None:
        interval = self.systemd.watchdog_interval_s or 10.0
        while True:
            # Fed only while the core is healthy: a stuck or broken core gets restarted by systemd.
            if self.core.ready:
                self.systemd.notify("WATCHDOG=1")
            await asyncio.sleep(interval)

    async def health_report(self) -> dict[str, Any]:
        """The unified health document of GET /health (also refreshes the gauges)."""
        core = await self.core.check_health() if self.core.group.started else dict(self.core.group.last_health)
        features = self.features.health() if self.features else {
            d.name: {"status": "pending" if d.enabled else "disabled", "detail": ""}
            for d in self.feature_definitions}
        unhealthy = any(not h.ok for h in core.values()) or not self.core.group.all_started
        degraded = any(self.feature_definitions_by_name(n).enabled and f["status"] not in ("running", "pending")
                       for n, f in features.items())
        status = "unhealthy" if unhealthy else ("degraded" if degraded else "healthy")
        db_health = core.get("database")
        size = self.core.database.file_size()
        rss = rss_bytes()
        self.metrics.rss.set(rss)
        self.metrics.uptime.set(time.time() - self.started_at)
        if size is not None:
            self.metrics.db_size.set(size)
        for priority in ("P1", "P2", "P3"):
            self.metrics.active_alerts.labels(priority=priority).set(
                sum(1 for a in self.alerts.active if a.priority == priority))
        return {
            "status": status,
            "version": __version__,
            "core_services": {name: {"status": h.status.value, "detail": h.detail} for name, h in core.items()},
            "features": features,
            "alerts": [{"priority": a.priority.value, "source": a.source, "message": a.message,
                        "raised_at": a.raised_at} for a in self.alerts.active],
            "system_metrics": {
                "uptime_s": round(time.time() - self.started_at, 1),
                "rss_bytes": rss,
                "cpu_percent": self.cpu.percent(),
                "db_size_bytes": size,
                "db_revision": db_health.data.get("revision") if db_health and db_health.status == Status.HEALTHY
                else self.core.database.revision,
            },
        }

    def feature_definitions_by_name(self, name: str) -> FeatureDefinition:
        """The configured definition of a feature."""
        for definition in self.feature_definitions:
            if definition.name == name:
                return definition
        raise KeyError(name)
