"""Why the CAN service reads its buses itself rather than through python-can's `can.Notifier`.

A receive error (the USB adapter unplugged, the interface taken down) must end in "interface down", a
P1 alert and a reconnect. `can.Notifier(loop=...)` does not give that:
- on a bus without a file descriptor (the virtual bus, serial adapters) its reader thread re-raises the
  error as an unhandled thread exception and dies; frames that arrive after the adapter is back are never
  read, and the notifier still says it runs;
- on a bus with a file descriptor (socketcan) the failing reader stays registered with the event loop:
  a descriptor that stays readable makes the loop call it again and again, each call failing.
  The service reads such a socket's frame records itself and stops watching it at the first failure.
Each test shows the notifier's behaviour on a real python-can bus and then the service's on the same fault.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from typing import Any

import can
import pytest
from can.interfaces.virtual import VirtualBus

from coachiq.bench.feed import Feed
from coachiq.can.interface import CanInterfaceService, LinkState
from coachiq.can.reader import SocketReader
from coachiq.core.alerts import AlertManager, Priority
from coachiq.settings import CanInterfaceSettings
from tests.can.conftest import FaultInjector, house, wait_for

DIMMER_ID = (6 << 26) | (0x1FEDA << 8) | 0x8E


@pytest.fixture
def thread_failures(monkeypatch: pytest.MonkeyPatch) -> list[BaseException]:
    """Exceptions that ended a thread unhandled during the test (caught here instead of warned about)."""
    failures: list[BaseException] = []

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.exc_value is not None:
            failures.append(args.exc_value)

    monkeypatch.setattr(threading, "excepthook", hook)
    return failures


def _frame(byte: int) -> can.Message:
    return can.Message(arbitration_id=DIMMER_ID, data=bytes([byte]) * 8)


async def test_can_notifier_loses_its_reader_for_good_after_one_receive_error(
        channel: str, peer: can.BusABC, injector: FaultInjector, thread_failures: list[BaseException]) -> None:
    bus = injector.factory(house(channel))
    heard: list[can.Message] = []
    errors: list[Exception] = []

    class Recorder(can.Listener):
        def on_message_received(self, msg: can.Message) -> None:
            heard.append(msg)

        def on_error(self, exc: Exception) -> None:
            errors.append(exc)

    notifier = can.Notifier(bus, [Recorder()], timeout=0.05, loop=asyncio.get_running_loop())
    try:
        reader = next(t for t in threading.enumerate() if t.name.startswith("Notifier for bus"))
        peer.send(_frame(1))
        await wait_for(lambda: heard)
        injector.recv_fails = True  # the adapter goes away
        await wait_for(lambda: thread_failures and errors, timeout=2)
        assert isinstance(thread_failures[0], can.CanOperationError)  # re-raised: an unhandled thread exception
        injector.recv_fails = False  # ... and comes back
        await asyncio.to_thread(reader.join, 2)
        assert not reader.is_alive()  # nobody reads the bus any more
        assert not notifier.stopped  # yet the notifier says it runs
        peer.send(_frame(2))
        assert [m.data[0] for m in heard] == [1]
        late = bus.recv(0)  # the frame reached the bus and waits there, unread
        assert late is not None and late.data[0] == 2
    finally:
        notifier.stop(timeout=1)
        bus.shutdown()


async def test_the_can_service_turns_the_same_receive_error_into_down_and_a_reconnect(
        channel: str, peer: can.BusABC, injector: FaultInjector, thread_failures: list[BaseException]) -> None:
    alerts = AlertManager()
    service = CanInterfaceService([house(channel)], alerts=alerts, bus_factory=injector.factory,
                                  backoff_start_s=0.05, backoff_max_s=0.2)
    await service.start()
    try:
        link = service.link("house")
        peer.send(_frame(1))
        await wait_for(lambda: link.stats.rx_frames == 1)
        injector.recv_fails = True
        await wait_for(lambda: link.state is LinkState.DOWN, timeout=3)
        assert alerts.has_active(Priority.P1) and "went away" in link.last_error
        injector.recv_fails = False
        await wait_for(lambda: link.state is LinkState.UP, timeout=3)
        peer.send(_frame(2))
        await wait_for(lambda: link.stats.rx_frames == 2)  # frames flow again
        assert alerts.active == []
        assert thread_failures == []  # the error was handled, not thrown out of a thread
    finally:
        await service.stop()


class _DescriptorBus(VirtualBus):
    """A virtual bus that also offers a file descriptor, as socketcan does; receiving fails once the
    descriptor's other end is gone (the interface was removed), while the descriptor stays readable."""

    def __init__(self, descriptor: socket.socket, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.descriptor = descriptor
        self.receive_calls = 0

    def fileno(self) -> int:
        return self.descriptor.fileno()

    def _recv_internal(self, timeout: float | None) -> tuple[can.Message | None, bool]:
        self.receive_calls += 1
        if self.descriptor.recv(16) == b"":
            raise can.CanOperationError("the interface went away")
        return None, False


@pytest.fixture
def removed_interface() -> Iterator[socket.socket]:
    """One end of a socket pair whose other end is closed: always readable, every read sees the end."""
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    theirs.close()
    yield ours
    ours.close()


async def test_can_notifier_keeps_calling_a_failing_descriptor_reader(
        channel: str, removed_interface: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    failures: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: failures.append(context))
    bus = _DescriptorBus(removed_interface, channel=channel)
    notifier = can.Notifier(bus, [], loop=loop)
    try:
        await wait_for(lambda: len(failures) >= 100, timeout=2)  # the loop spins on the dead reader
        assert isinstance(failures[0]["exception"], can.CanOperationError)
        assert bus.receive_calls >= 100
    finally:
        notifier.stop(timeout=1)
        loop.set_exception_handler(previous)
        bus.shutdown()


async def test_the_can_service_unregisters_a_failing_descriptor_reader_at_once() -> None:
    # The service's descriptor path reads SocketCAN frame records itself (coachiq/can/reader.py); its
    # socket here is the `fd` interface, whose other end goes away as a removed interface would.
    loop = asyncio.get_running_loop()
    failures: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: failures.append(context))
    feed = Feed(socket.SOCK_SEQPACKET)
    alerts = AlertManager()
    settings = CanInterfaceSettings.model_validate(feed.settings())
    service = CanInterfaceService([settings], alerts=alerts, backoff_start_s=30.0)
    await service.start()
    try:
        link = service.link("house")
        reader = link.reader
        assert isinstance(reader, SocketReader)
        feed.ours.close()
        await wait_for(lambda: link.state is LinkState.DOWN, timeout=2)
        assert alerts.has_active(Priority.P1)
        assert reader.stopped and not reader.listening and link.reader is None
        assert not loop.remove_reader(reader.fd)  # the loop no longer watches the socket
        assert failures == []
    finally:
        await service.stop()
        loop.set_exception_handler(previous)
        feed.close()
