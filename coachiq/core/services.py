"""CoreServices: the fixed, ordered list of mandatory services, started in order, stopped in reverse.

Nothing in configuration can remove a service from this list. If one fails to start, those already
started are stopped in reverse order and start-up fails with one line naming the service.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from coachiq.api.v2.service import ApiV2Service
from coachiq.can.address_claim import DEFAULT_NAME
from coachiq.can.interface import BusFactory, CanInterfaceService, open_bus, simulated_interfaces
from coachiq.core.alerts import AlertManager, Priority
from coachiq.core.errors import CoreStartError
from coachiq.core.events import EventBus
from coachiq.core.metrics import Metrics
from coachiq.core.service import Health, Service, ServiceStartError, Status
from coachiq.db.manager import DatabaseManager
from coachiq.entities.manager import EntityManager
from coachiq.persistence.store import PersistenceService, Retention
from coachiq.realtime.hub import RealtimeHub
from coachiq.rvc.service import RvcProtocolService
from coachiq.settings import Settings
from coachiq.state.manager import StateManager

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 5.0


class ServiceGroup:
    """Starts services in order, stops them in reverse, and checks their health."""

    def __init__(self, services: Sequence[Service], alerts: AlertManager, metrics: Metrics) -> None:
        self.services = tuple(services)
        self.alerts = alerts
        self.metrics = metrics
        self.started: list[Service] = []
        self.last_health: dict[str, Health] = {s.name: Health(Status.STOPPED, "not started") for s in services}

    async def start(self) -> None:
        """Start every service in order; on a failure stop the started ones and raise CoreStartError."""
        for service in self.services:
            began = time.perf_counter()
            try:
                await service.start()
            except ServiceStartError as exc:
                log.error("core service %s failed to start: %s", service.name, exc, exc_info=True,
                          extra={"file_only": True})
                await self.stop()
                raise CoreStartError(service.name, exc.cause, exc.remedy) from exc
            except Exception as exc:
                log.exception("core service %s failed to start", service.name, extra={"file_only": True})
                await self.stop()
                raise CoreStartError(service.name, f"{type(exc).__name__}: {exc}",
                                     "see the log for the details") from exc
            self.started.append(service)
            self.last_health[service.name] = Health(Status.HEALTHY, "started")
            self.metrics.core_service_up.labels(service=service.name).set(1)
            log.info("core service %s started in %.0f ms", service.name, (time.perf_counter() - began) * 1000)

    async def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop started services in reverse order within `timeout` seconds in all.

        A service that fails or hangs is logged and the rest are still stopped.
        """
        deadline = time.monotonic() + timeout
        while self.started:
            service = self.started.pop()
            remaining = max(0.1, deadline - time.monotonic())
            try:
                async with asyncio.timeout(remaining):
                    await service.stop()
                log.info("core service %s stopped", service.name)
            except TimeoutError:
                log.error("core service %s did not stop within %.1f s", service.name, remaining)
            except Exception:
                log.exception("core service %s failed to stop", service.name)
            self.last_health[service.name] = Health(Status.STOPPED, "stopped")
            self.metrics.core_service_up.labels(service=service.name).set(0)

    async def check_health(self) -> dict[str, Health]:
        """Ask every started service for its health; update gauges and P1 alerts."""
        for service in self.services:
            if service not in self.started:
                continue
            try:
                async with asyncio.timeout(5.0):
                    health = await service.health()
            except Exception as exc:
                health = Health(Status.UNHEALTHY, f"health check failed: {type(exc).__name__}: {exc}")
            self.last_health[service.name] = health
            self.metrics.core_service_up.labels(service=service.name).set(1 if health.ok else 0)
            key = f"core:{service.name}"
            if health.ok:
                self.alerts.clear(key)
            else:
                self.alerts.raise_alert(key, Priority.P1, service.name,
                                        f"core service '{service.name}' is {health.status}: {health.detail}")
        return dict(self.last_health)

    @property
    def all_started(self) -> bool:
        """True when every service has started (and none has been stopped)."""
        return len(self.started) == len(self.services)


class CoreServices:
    """The mandatory services, as typed attributes, in their fixed start order."""

    def __init__(self, settings: Settings, alerts: AlertManager, metrics: Metrics,
                 simulated_buses: Sequence[str] = (), bus_factory: BusFactory = open_bus) -> None:
        """`simulated_buses`: further virtual buses (a chassis bus) when no CAN hardware is configured;
        `bus_factory` opens the CAN buses (python-can's by default; tests inject faults through it)."""
        self.settings = settings
        self.alerts = alerts
        self.metrics = metrics
        self.events = EventBus()
        self.database = DatabaseManager(settings.effective_database_url, settings.data_dir)
        self.persistence = PersistenceService(self.database, settings.flush_interval, Retention(
            settings.audit_retention_days, settings.audit_max_rows, settings.history_retention_days,
            settings.history_max_rows))
        self.can = CanInterfaceService(settings.can_interfaces or simulated_interfaces(simulated_buses), alerts=alerts,
                                       metrics=metrics, source_address=settings.can_source_address,
                                       node_name=settings.can_name or DEFAULT_NAME, bus_factory=bus_factory)
        self.rvc = RvcProtocolService(self.can, self.events, cache_directory=settings.data_dir / "cache")
        self.state = StateManager(settings, self.events, self.can, self.rvc, alerts, self.persistence)
        self.entities = EntityManager(settings, self.events, self.can, self.rvc, self.persistence, self.state)
        self.realtime = RealtimeHub(self.events, self.entities, self.state, self.rvc, metrics)
        self.api_v2 = ApiV2Service(self.events)
        self.group = ServiceGroup(self.ordered(), alerts, metrics)
        alerts.attach_store(self.persistence)

    def ordered(self) -> list[Service]:
        """The core services in start order."""
        return [self.database, self.persistence, self.can, self.rvc, self.entities, self.state,
                self.realtime, self.api_v2]

    async def start(self) -> None:
        """Start every core service in order (raises CoreStartError)."""
        await self.group.start()

    async def stop(self) -> None:
        """Stop every started core service in reverse order."""
        await self.group.stop()

    async def check_health(self) -> dict[str, Health]:
        """Health of every core service."""
        return await self.group.check_health()

    @property
    def ready(self) -> bool:
        """True when every core service is up, the last health check found none unhealthy, and no P1 stands.

        A P1 (a loop of the CAN service stopped, an interface down) turns readiness off at once, without
        waiting for the next health round.
        """
        return self.group.all_started and all(h.ok for h in self.group.last_health.values()) \
            and not self.alerts.has_active(Priority.P1)
