"""The CAN interface core service: one python-can bus per configured interface.

With no CAN hardware configured, one bus named "house" runs on python-can's in-process `virtual`
interface, where the simulated coach lives.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import can

from coachiq.core.service import Health, ServiceStartError, Status
from coachiq.settings import CanInterfaceSettings

log = logging.getLogger(__name__)

SIMULATED_CHANNEL = "coachiq-sim"


def simulated_interfaces() -> list[CanInterfaceSettings]:
    """The interface list used when no CAN hardware is configured."""
    return [CanInterfaceSettings(name="house", interface="virtual", channel=SIMULATED_CHANNEL)]


@dataclass(slots=True)
class BusHandle:
    """An open bus and its configuration."""

    settings: CanInterfaceSettings
    bus: can.BusABC


class CanInterfaceService:
    """Owns the python-can buses; other services read and write frames through it."""

    name = "can"

    def __init__(self, interfaces: list[CanInterfaceSettings]) -> None:
        self.interfaces = interfaces
        self.buses: dict[str, BusHandle] = {}

    async def start(self) -> None:
        """Open every configured bus."""
        for settings in self.interfaces:
            try:
                bus = await asyncio.to_thread(
                    can.Bus, interface=settings.interface, channel=settings.channel, bitrate=settings.bitrate
                )
            except (can.CanError, OSError, ValueError, ImportError) as exc:
                for handle in self.buses.values():
                    handle.bus.shutdown()
                self.buses.clear()
                raise ServiceStartError(
                    f"cannot open CAN interface '{settings.name}' ({settings.interface} {settings.channel}): {exc}",
                    "check that the interface exists and is up (ip link set can0 up type can bitrate 250000), "
                    "or remove can_interfaces to run the simulated coach",
                ) from exc
            self.buses[settings.name] = BusHandle(settings, bus)
            log.info("CAN interface %s open on %s %s", settings.name, settings.interface, settings.channel)

    async def stop(self) -> None:
        """Close every bus."""
        for name, handle in list(self.buses.items()):
            try:
                handle.bus.shutdown()
            except Exception:
                log.exception("closing CAN interface %s failed", name)
        self.buses.clear()

    async def health(self) -> Health:
        """Report each bus's state as python-can sees it."""
        if not self.buses:
            return Health(Status.STOPPED, "no bus open")
        states = {name: handle.bus.state.name.lower() for name, handle in self.buses.items()}
        bad = [name for name, state in states.items() if state == "error"]
        detail = ", ".join(f"{name}: {state}" for name, state in states.items())
        return Health(Status.UNHEALTHY if bad else Status.HEALTHY, detail, {"states": states})
