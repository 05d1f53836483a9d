"""Helpers for the CAN tests: unique virtual channels, a listening bus, a fault-injecting bus."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Iterator
from typing import Any

import can
import pytest
from can.interfaces.virtual import VirtualBus

from coachiq.settings import CanInterfaceSettings
from tests.conftest import wait_for as wait_for

_counter = itertools.count()


@pytest.fixture
def channel() -> str:
    """A virtual channel no other test uses."""
    return f"coachiq-test-{uuid.uuid4().hex[:8]}-{next(_counter)}"


@pytest.fixture
def peer(channel: str) -> Iterator[can.BusABC]:
    """Another node on the test channel (sees what the service sends, sends what it receives)."""
    bus = can.Bus(interface="virtual", channel=channel)
    yield bus
    bus.shutdown()


def house(channel: str, name: str = "house") -> CanInterfaceSettings:
    """Settings of one interface on a virtual channel."""
    return CanInterfaceSettings(name=name, interface="virtual", channel=channel)




def _drain(bus: can.BusABC, timeout: float, pf: int | None) -> list[can.Message]:
    messages = []
    while (message := bus.recv(timeout)) is not None:
        if pf is None or (message.arbitration_id >> 16) & 0xFF == pf:
            messages.append(message)
    return messages


async def received(bus: can.BusABC, timeout: float = 1.0, pf: int | None = None) -> list[can.Message]:
    """Everything `bus` receives until it is quiet for `timeout` s (optionally one PF only).

    Reads in a thread so that the service under test keeps running in the event loop meanwhile.
    """
    return await asyncio.to_thread(_drain, bus, timeout, pf)


class FaultInjector:
    """Controls FlakyBus instances: make opening fail, or make the open bus fail while receiving."""

    def __init__(self) -> None:
        self.open_fails = False
        self.recv_fails = False
        self.send_raises: BaseException | None = None  # raised by send: a driver failing in an unforeseen way
        self.open_attempts: list[float] = []
        self.buses: list[FlakyBus] = []

    def factory(self, settings: CanInterfaceSettings) -> can.BusABC:
        """Bus factory for CanInterfaceService(bus_factory=...)."""
        self.open_attempts.append(time.monotonic())
        if self.open_fails:
            raise OSError(19, "No such device")
        bus = FlakyBus(self, channel=settings.channel)
        self.buses.append(bus)
        return bus


class FlakyBus(VirtualBus):
    """A python-can virtual bus whose receive raises while the injector says so (a vanished adapter)."""

    def __init__(self, injector: FaultInjector, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.injector = injector

    def _recv_internal(self, timeout: float | None) -> tuple[can.Message | None, bool]:
        if self.injector.recv_fails:
            raise can.CanOperationError("injected fault: the interface went away")
        result: tuple[can.Message | None, bool] = super()._recv_internal(timeout)
        return result

    def send(self, msg: can.Message, timeout: float | None = None) -> None:
        """Send, or raise what the injector says."""
        if self.injector.send_raises is not None:
            raise self.injector.send_raises
        super().send(msg, timeout)


@pytest.fixture
def injector() -> FaultInjector:
    """A fresh fault injector."""
    return FaultInjector()
