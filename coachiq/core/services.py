"""ServiceGroup: services started in order, stopped in reverse, their health checked.

If one fails to start, those already started are stopped in reverse order and start-up fails with one
line naming the service. Which services form the core is decided above this layer (coachiq/composition.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from coachiq.core.alerts import AlertManager, Priority
from coachiq.core.errors import CoreStartError
from coachiq.core.metrics import Metrics
from coachiq.core.service import Health, Service, ServiceStartError, Status

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
