"""The core services of one server, composed in their fixed start order.

Nothing in configuration can remove a service from this list. This module sits above every layer it
composes (database, persistence, CAN, RV-C, entities, state, realtime, API) and below the features,
which are handed the composed services, and the runtime that owns them.
"""

from __future__ import annotations

from collections.abc import Sequence

from coachiq.api.v2.service import ApiV2Service
from coachiq.can.address_claim import DEFAULT_NAME
from coachiq.can.interface import BusFactory, CanInterfaceService, open_bus, simulated_interfaces
from coachiq.core.alerts import AlertManager, Priority
from coachiq.core.events import EventBus
from coachiq.core.metrics import Metrics
from coachiq.core.service import Health, Service
from coachiq.core.services import ServiceGroup
from coachiq.db.manager import DatabaseManager
from coachiq.entities.manager import EntityManager
from coachiq.persistence.store import PersistenceService, Retention
from coachiq.realtime.hub import RealtimeHub
from coachiq.rvc.service import RvcProtocolService
from coachiq.settings import Settings
from coachiq.state.manager import StateManager
from coachiq.state.supervisor import MotionSupervisor


class CoreServices:
    """The mandatory services, as typed attributes, in their fixed start order."""

    def __init__(self, settings: Settings, metrics: Metrics, simulated_buses: Sequence[str] = (),
                 bus_factory: BusFactory = open_bus) -> None:
        """`simulated_buses`: further virtual buses (a chassis bus) when no CAN hardware is configured;
        `bus_factory` opens the CAN buses (python-can's by default; tests inject faults through it).

        Each service is built with everything it uses, in an order that makes that possible: the alerts
        after the persistence that records them, the motion supervisor after the state manager that
        decides and the entity manager that stops devices. Nothing is attached afterwards.
        """
        self.settings = settings
        self.metrics = metrics
        self.events = EventBus()
        self.database = DatabaseManager(settings.effective_database_url, settings.data_dir)
        self.persistence = PersistenceService(self.database, settings.flush_interval, Retention(
            settings.audit_retention_days, settings.audit_max_rows, settings.history_retention_days,
            settings.history_max_rows))
        self.alerts = alerts = AlertManager(store=self.persistence)
        self.can = CanInterfaceService(settings.can_interfaces or simulated_interfaces(simulated_buses), alerts=alerts,
                                       metrics=metrics, source_address=settings.can_source_address,
                                       node_name=settings.can_name or DEFAULT_NAME, bus_factory=bus_factory)
        self.rvc = RvcProtocolService(self.can, self.events, cache_directory=settings.data_dir / "cache")
        self.state = StateManager(settings, self.events, self.can, self.rvc, alerts, self.persistence)
        self.entities = EntityManager(settings, self.events, self.can, self.rvc, self.persistence, gate=self.state)
        self.motion = MotionSupervisor(self.state, self.entities)
        self.realtime = RealtimeHub(self.events, self.entities, self.motion, self.rvc, metrics,
                                    audit=self.persistence.audit)
        self.api_v2 = ApiV2Service(self.events)
        self.group = ServiceGroup(self.ordered(), alerts, metrics)

    def ordered(self) -> list[Service]:
        """The core services in start order."""
        return [self.database, self.persistence, self.can, self.rvc, self.entities, self.state, self.motion,
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
