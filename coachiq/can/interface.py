"""The CAN interface core service: one python-can bus per configured interface.

With no CAN hardware configured, one bus named "house" runs on python-can's in-process `virtual`
interface, where the simulated coach lives.

Each interface is supervised on its own: the bus is opened with `can.Bus(...)`; if that fails, or the
bus later raises while receiving, the interface is reported down, a P1 alert stands, and it is reopened
with a back-off of 1 s doubling to 30 s. The service itself always starts: the Pi may boot before can0
is up.

Receiving (coachiq/can/reader.py): a SocketCAN socket, and the `fd` interface of tests and benchmarks,
are read record by record from the event loop; other buses (virtual, serial adapters) from one thread
per bus that hands frames to the loop. `can.Notifier(loop=...)` is not used because it re-raises
receive errors in its thread (an unhandled thread exception) and, on the descriptor path, leaves a
failing reader registered so the loop would spin on it; we need the error to end in one clean
reconnect instead. Records that are no classic CAN data frame are refused and counted.

Transmitting: per interface a bounded queue of client frames ordered by the J1939 priority and, at equal
priority, in turns between clients (coachiq/can/transmit.py), and ahead of it a stop lane: stop frames
of moving devices go first, past the client frames and their rate limit. Clients never choose the lane;
the entity manager puts the stop frames of position-critical devices there, and identical stop
frames waiting there share one slot, so the lane stays short. Each client (an API caller, a WebSocket
client) has its own rate limit, and a full queue refuses new work at once (CanBusyError) instead of
delaying what is queued. A frame may carry a gate, asked when the frame is taken off the queue, and an
age bound: a motion frame that is no longer allowed, or that waited too long, is dropped and its sender
told why (TransmitRefused), never sent late. Each target has a rate limit (the destination node of a
destination-specific frame, else the DGN and instance), and no frame leaves before our address is
claimed (J1939-81, see address_claim.py). Frames we send also run through the receive pipeline, flagged
as own.

Every loop of the service is supervised: a loop that ends unexpectedly is logged at once, the service
reports unhealthy and raises a P1 alert (the state manager then puts the coach in safe state), and the
loop is restarted; the alert clears once the new loop has run for a while.

Each interface's state, its receive handler and metrics are in coachiq/can/link.py.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Sequence

import can

from coachiq.can.address_claim import DEFAULT_NAME, AddressClaimer, ClaimState, OutFrame
from coachiq.can.link import (
    SIMULATED_CHANNEL,
    TX_QUEUE_SIZE,
    CanCollector,
    CanInterface,
    LinkReceiver,
    LinkState,
    TokenBucket,
    keep_running,
    open_bus,
    simulated_channel,
    simulated_interfaces,
)
from coachiq.can.pipeline import InterfaceStats, ReceivePipeline
from coachiq.can.reader import RECEIVE_ERRORS, ReadRounds, SocketReader, ThreadReader, record_socket
from coachiq.can.transmit import (
    CanBusyError,
    CanTransmitError,
    Gate,
    TransmitRefused,
    TxItem,
    compose_frame_id,
    mark_retrieved,
    rate_target,
    resolve,
)
from coachiq.core.alerts import AlertManager, Priority
from coachiq.core.metrics import Metrics
from coachiq.core.service import Health, Status
from coachiq.core.tasks import cancel_all
from coachiq.settings import CanInterfaceSettings

log = logging.getLogger(__name__)

__all__ = [
    "SIMULATED_CHANNEL",
    "BusFactory",
    "CanBusyError",
    "CanInterface",
    "CanInterfaceService",
    "CanTransmitError",
    "LinkState",
    "TransmitRefused",
    "TransportHandler",
    "open_bus",
    "simulated_channel",
    "simulated_interfaces",
]

BACKOFF_START_S = 1.0
BACKOFF_MAX_S = 30.0
NO_TRAFFIC_S = 10.0
RATE_LIMIT_S = 0.01  # at most 100 frames/s to one destination address, or to one RV-C instance
_MAX_TARGETS = 4096  # rate-limit entries kept before the expired ones are dropped
CLIENT_RATE_PER_S = 50.0  # frames per second one client may queue, sustained
CLIENT_BURST = 20  # frames one client may queue at once
LOOP_RESTART_HOLD_S = 2.0  # a restarted loop must run this long before its alert clears
_TX_TIMEOUT_S = 0.02  # how long a full transmit buffer may hold the loop before the frame is dropped
_RECEIVE_ERRORS = RECEIVE_ERRORS


BusFactory = Callable[[CanInterfaceSettings], can.BusABC]
# (timestamp, arbitration id, payload, interface name, own) for transport frames (TP.CM, TP.DT).
TransportHandler = Callable[[float, int, bytes, str, bool], None]


class CanInterfaceService:
    """Owns the python-can buses; other services read frames through its pipeline and send through it."""

    name = "can"

    def __init__(self, interfaces: Sequence[CanInterfaceSettings], *, alerts: AlertManager | None = None,
                 metrics: Metrics | None = None, source_address: int = 0x8C, node_name: int = DEFAULT_NAME,
                 bus_factory: BusFactory = open_bus, pipeline: ReceivePipeline | None = None,
                 no_traffic_s: float = NO_TRAFFIC_S, rate_limit_s: float = RATE_LIMIT_S,
                 backoff_start_s: float = BACKOFF_START_S, backoff_max_s: float = BACKOFF_MAX_S,
                 client_rate_per_s: float = CLIENT_RATE_PER_S, client_burst: int = CLIENT_BURST,
                 restart_hold_s: float = LOOP_RESTART_HOLD_S) -> None:
        """`source_address` and `node_name` (64-bit J1939 NAME) are what we claim on every interface.

        `client_rate_per_s` and `client_burst` bound what one client may queue; `restart_hold_s` is how
        long a restarted loop must run before its P1 alert clears.
        """
        names = [s.name for s in interfaces]
        if len(set(names)) != len(names):
            raise ValueError(f"CAN interface names must be unique, got {names}")
        self.interfaces = list(interfaces)
        self.alerts = alerts
        self.bus_factory = bus_factory
        self.pipeline = pipeline if pipeline is not None else ReceivePipeline()
        self.pipeline.control = self._on_control
        self.transport_handler: TransportHandler | None = None
        self.no_traffic_s = no_traffic_s
        self.rate_limit_s = rate_limit_s
        self.backoff_start_s = backoff_start_s
        self.backoff_max_s = backoff_max_s
        self.client_rate_per_s = client_rate_per_s
        self.client_burst = client_burst
        self.restart_hold_s = restart_hold_s
        self.source_address = source_address
        self.node_name = node_name
        self.links: dict[str, CanInterface] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        # Busy sockets with the same drain interval are read in the same rounds: one wake-up for all.
        self._rounds: dict[float, ReadRounds] = {}
        self._seq = itertools.count()
        if metrics is not None:
            metrics.registry.register(CanCollector(self.links))

    # --- life cycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start supervising every interface; never fails because a bus is missing."""
        self._loop = asyncio.get_running_loop()
        self._rounds = {}
        for settings in self.interfaces:
            link = CanInterface(settings, AddressClaimer(self.node_name, self.source_address))
            self.links[settings.name] = link
            # The first open is awaited so a working bus is up as soon as start() returns.
            await self._open(link)
            self._tasks.append(asyncio.create_task(
                keep_running(link, "connection supervisor", functools.partial(self._supervise, link), self.alerts,
                             self.restart_hold_s),
                name=f"can-{link.name}-supervisor"))
            self._tasks.append(asyncio.create_task(
                keep_running(link, "transmit loop", functools.partial(self._transmit_loop, link), self.alerts,
                             self.restart_hold_s),
                name=f"can-{link.name}-tx"))

    async def stop(self) -> None:
        """Stop the tasks and close every bus; a failing close is logged and the rest still close."""
        await cancel_all(self._tasks)
        for link in self.links.values():
            await self._close(link)
            self._fail_queued(link, "the CAN service stopped")
            if self.alerts is not None:
                self.alerts.clear(f"can:{link.name}")
        self.links.clear()

    async def health(self) -> Health:
        """Each bus's state: up, down, bus-off, or no traffic for N s; and the address claim."""
        if not self.links:
            return Health(Status.STOPPED, "no interface configured or service stopped")
        now = time.time()
        worst = Status.HEALTHY
        parts: list[str] = []
        data: dict[str, object] = {}
        for link in self.links.values():
            status, detail = self._link_health(link, now)
            parts.append(f"{link.name}: {detail}")
            data[link.name] = {"state": link.state.value, "detail": detail, "address": link.claimer.address,
                               "claim": link.claimer.state.value, **link.stats.snapshot(),
                               "refused": link.refused}
            if status is Status.UNHEALTHY or (status is Status.DEGRADED and worst is Status.HEALTHY):
                worst = status
        return Health(worst, "; ".join(parts), data)

    def _link_health(self, link: CanInterface, now: float) -> tuple[Status, str]:
        if link.loop_faults:
            return Status.UNHEALTHY, "; ".join(link.loop_faults.values())
        if link.state is LinkState.DOWN or link.bus is None:
            return Status.UNHEALTHY, f"down ({link.last_error}); retrying every {link.next_retry_s:.0f} s at most"
        try:
            bus_state = link.bus.state
        except (NotImplementedError, *_RECEIVE_ERRORS):
            bus_state = can.BusState.ACTIVE
        if link.state is LinkState.BUS_OFF or bus_state is can.BusState.ERROR:
            return Status.UNHEALTHY, "bus-off"
        if link.claimer.state is ClaimState.CANNOT_CLAIM:
            return Status.DEGRADED, "up, but cannot claim an address: transmit disabled"
        last_rx = link.stats.last_rx_time
        since = last_rx if last_rx is not None else link.up_since
        if since is not None and now - since >= self.no_traffic_s:
            return Status.DEGRADED, f"no traffic for {now - since:.0f} s"
        state = "up" if bus_state is can.BusState.ACTIVE else f"up ({bus_state.name.lower()})"
        return Status.HEALTHY, f"{state}, address {link.claimer.address} {link.claimer.state.value}"

    # --- opening, faults, reconnecting ----------------------------------------------------------

    async def _open(self, link: CanInterface) -> bool:
        settings = link.settings
        try:
            bus = await asyncio.to_thread(self.bus_factory, settings)
        except (*_RECEIVE_ERRORS, ImportError) as exc:
            self._down(link, f"cannot open {settings.interface} {settings.channel}: {exc}")
            return False
        link.bus = bus
        link.fault.clear()
        link.state = LinkState.UP
        link.up_since = time.time()
        link.last_error = ""
        self._start_reader(link, bus)
        if self.alerts is not None:
            self.alerts.clear(f"can:{link.name}")
        log.info("CAN interface %s open on %s %s", link.name, settings.interface, settings.channel)
        for frame in link.claimer.start(time.monotonic()):
            self._send_now(link, frame)
        return True

    def _down(self, link: CanInterface, reason: str) -> None:
        link.state = LinkState.DOWN
        link.last_error = reason
        link.up_since = None
        link.stats.errors += 1
        self._fail_queued(link, f"CAN interface '{link.name}' is down")
        if self.alerts is not None:
            self.alerts.raise_alert(f"can:{link.name}", Priority.P1, "can",
                                    f"CAN interface '{link.name}' is down: {reason}")

    async def _close(self, link: CanInterface) -> None:
        reader, link.reader = link.reader, None
        if isinstance(reader, SocketReader):
            reader.stop()
        elif reader is not None:
            await reader.stop()
        bus, link.bus = link.bus, None
        if bus is not None:
            try:
                bus.shutdown()
            except (*_RECEIVE_ERRORS, RuntimeError):
                log.exception("closing CAN interface %s failed", link.name)

    async def _supervise(self, link: CanInterface) -> None:
        backoff = self.backoff_start_s
        while True:
            if link.bus is not None:
                opened_at = time.monotonic()
                await link.fault.wait()
                await self._close(link)
                link.reconnects += 1
                if link.state is not LinkState.DOWN:  # a fault without its own reason
                    self._down(link, "the bus failed")
                # A bus that stayed up a while starts the back-off afresh; one that fails at once does not.
                if time.monotonic() - opened_at >= self.backoff_max_s:
                    backoff = self.backoff_start_s
            link.next_retry_s = backoff
            log.warning("CAN interface %s down (%s); retrying in %.0f s", link.name, link.last_error, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.backoff_max_s)
            await self._open(link)

    def _fault(self, link: CanInterface, exc: BaseException) -> None:
        """A receive or bus error: report the interface down and let the supervisor reconnect."""
        if link.state is LinkState.DOWN:
            return
        if isinstance(link.reader, SocketReader):
            link.reader.stop()  # else the loop would call the failing reader again
        log.error("CAN interface %s failed: %s", link.name, exc)
        self._down(link, f"{type(exc).__name__}: {exc}")
        link.fault.set()

    # --- receiving ------------------------------------------------------------------------------

    def _start_reader(self, link: CanInterface, bus: can.BusABC) -> None:
        loop = self._loop
        assert loop is not None, "start() sets the loop"
        receiver = LinkReceiver(link, self.pipeline, self.alerts, self._fault)
        sock = record_socket(bus)
        if sock is not None:
            drain_s = link.settings.drain_ms / 1000
            rounds = None
            if drain_s > 0:
                rounds = self._rounds.get(drain_s)
                if rounds is None:
                    rounds = self._rounds[drain_s] = ReadRounds(loop, drain_s)
            link.reader = SocketReader(sock, loop, receiver, drain_s, rounds)
        else:
            link.reader = ThreadReader(bus, loop, receiver, name=f"can-{link.name}-rx")
        link.reader.start()

    def inject(self, interface: str, timestamp: float, arbitration_id: int, data: bytes) -> None:
        """Run a frame through the receive path as if it came from `interface` (log replay)."""
        self.pipeline.process(timestamp, arbitration_id, data, self.link(interface).stats)

    def inject_batch(self, interface: str, timestamp: float, frames: Iterable[tuple[int, bytes]]) -> None:
        """Run (identifier, payload) frames through the receive path as if read from `interface` in one go."""
        self.pipeline.process_batch(timestamp, frames, self.link(interface).stats)

    def _on_control(self, timestamp: float, arbitration_id: int, data: bytes, stats: InterfaceStats,
                    own: bool) -> None:
        link = self.links.get(stats.name)
        if link is None:
            return
        if not own and link.bus is not None:
            for frame in link.claimer.on_frame(arbitration_id, data, time.monotonic()):
                self._send_now(link, frame)
        handler = self.transport_handler
        if handler is not None:
            handler(timestamp, arbitration_id, data, link.name, own)

    # --- transmitting ---------------------------------------------------------------------------

    def link(self, interface: str) -> CanInterface:
        """The interface called `interface`; KeyError names the configured ones."""
        try:
            return self.links[interface]
        except KeyError:
            raise KeyError(f"no CAN interface '{interface}': configured are "
                           f"{', '.join(self.links) or 'none'}") from None

    def submit(self, interface: str, dgn: int, data: bytes, *, priority: int = 6,
               destination: int | None = None, client: str | None = None, urgent: bool = False,
               gate: Gate | None = None, max_age_s: float | None = None) -> asyncio.Future[int]:
        """Queue a frame; the future gives its 29-bit identifier once on the wire, or CanTransmitError.

        The source address is filled in at transmit time with the address claimed then.
        `client`: who asks, for the per-client rate limit (None: the server itself). `urgent`: a stop
        frame for the stop lane (never from a client). `gate`: asked when the frame is taken off the
        queue; a reason drops the frame (TransmitRefused), as does waiting longer than `max_age_s`.
        """
        if not 0 <= priority <= 7:
            raise ValueError(f"priority {priority} is out of range: allowed 0..7")
        if len(data) > 8:
            raise ValueError(f"a CAN frame carries at most 8 bytes, got {len(data)}: use the transport")
        link = self.link(interface)
        if self._loop is None:
            raise CanTransmitError("the CAN service is not started")
        loop = self._loop
        future: asyncio.Future[int] = loop.create_future()
        future.add_done_callback(mark_retrieved)
        if link.state is LinkState.DOWN:
            future.set_exception(CanTransmitError(f"CAN interface '{interface}' is down: {link.last_error}"))
            return future
        not_after = None if max_age_s is None else loop.time() + max_age_s
        item = TxItem(priority, 0, next(self._seq), dgn, destination, bytes(data), future, gate, not_after, urgent)
        if urgent:
            return link.queue.put_stop(item)
        if client is not None and not self._take_token(link, client, loop.time()):
            future.set_exception(CanBusyError(
                f"rate limit: client {client} may queue at most {self.client_rate_per_s:g} frames/s "
                f"(bursts of {self.client_burst}); try again shortly", rate_limited=True))
            return future
        try:
            link.queue.put(item, client)
        except asyncio.QueueFull:
            future.set_exception(CanBusyError(
                f"transmit queue of '{interface}' is full ({TX_QUEUE_SIZE} frames): the bus is saturated; "
                "try again shortly", rate_limited=False))
        return future

    def _take_token(self, link: CanInterface, client: str, now: float) -> bool:
        buckets = link.clients
        bucket = buckets.get(client)
        if bucket is None:
            if len(buckets) >= 4 * TX_QUEUE_SIZE:  # forget full buckets: many clients cannot grow memory
                for name in [n for n, b in buckets.items() if b.tokens >= self.client_burst]:
                    del buckets[name]
            bucket = buckets[client] = TokenBucket(self.client_burst, now)
        bucket.tokens = min(self.client_burst, bucket.tokens + (now - bucket.last) * self.client_rate_per_s)
        bucket.last = now
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True

    def address_on(self, interface: str) -> int | None:
        """The source address this server holds (or is claiming) on `interface`; None for no such interface."""
        link = self.links.get(interface)
        return None if link is None else link.claimer.address

    async def send(self, interface: str, dgn: int, data: bytes, *, priority: int = 6,
                   destination: int | None = None, client: str | None = None, urgent: bool = False,
                   gate: Gate | None = None, max_age_s: float | None = None) -> int:
        """Send a frame and wait until it is on the wire; returns its identifier (CanTransmitError)."""
        return await self.submit(interface, dgn, data, priority=priority, destination=destination,
                                 client=client, urgent=urgent, gate=gate, max_age_s=max_age_s)

    async def _transmit_loop(self, link: CanInterface) -> None:
        while True:
            # No frame before our address is claimed (the claim settles 250 ms after it went out).
            # Waiting before taking a frame lets the queue order what piled up by priority.
            await self._claim_settled(link)
            item = await link.queue.get()
            try:
                await self._transmit(link, item)
            except BaseException as exc:
                # Whatever ends the loop, the frame in hand gets an answer; the supervisor restarts the loop.
                resolve(item.future, CanTransmitError(f"the transmit loop of '{link.name}' stopped: {exc!r}"))
                raise

    async def _transmit(self, link: CanInterface, item: TxItem) -> None:
        if item.future.done():  # the sender gave up
            return
        await self._claim_settled(link)
        if link.state is LinkState.DOWN or link.bus is None:
            resolve(item.future, CanTransmitError(f"CAN interface '{link.name}' is down"))
            return
        if not link.claimer.can_transmit(time.monotonic()):
            resolve(item.future, CanTransmitError(
                f"no source address claimed on '{link.name}' ({link.claimer.state.value}): "
                "another node holds it; choose another can_source_address"))
            return
        loop = asyncio.get_running_loop()
        target = rate_target(item)
        if not item.urgent:
            wait = link.next_allowed.get(target, 0.0) - loop.time()
            if wait > 0:
                # A stop frame arriving meanwhile goes first: this one goes back to its place.
                link.queue.put_back(item)
                await link.queue.stop_or_timeout(wait)
                return
        if item.future.done():
            return
        if item.gate is not None:
            try:
                reason = item.gate()
            except Exception as exc:  # fail closed: a gate that cannot decide refuses
                log.exception("the safety gate of a queued frame failed")
                reason = f"the safety gate failed: {type(exc).__name__}: {exc}"
            if reason is not None:
                resolve(item.future, TransmitRefused(reason))
                return
        if item.not_after is not None and loop.time() > item.not_after:
            resolve(item.future, TransmitRefused(
                f"dropped: the frame was older than its bound by {loop.time() - item.not_after:.2f} s when its "
                "turn came; a motion is never sent late"))
            return
        now = loop.time()
        if len(link.next_allowed) > _MAX_TARGETS:
            link.next_allowed = {k: t for k, t in link.next_allowed.items() if t > now}
        link.next_allowed[target] = now + self.rate_limit_s
        try:
            arbitration_id = compose_frame_id(item.dgn, link.claimer.address, item.priority, item.destination)
        except ValueError as exc:
            resolve(item.future, exc)
            return
        if self._send_now(link, OutFrame(arbitration_id, item.data)):
            resolve(item.future, arbitration_id)
        else:
            resolve(item.future, CanTransmitError(
                f"sending on '{link.name}' failed: {link.last_error or 'see the log'}"))

    @staticmethod
    async def _claim_settled(link: CanInterface) -> None:
        while link.state is not LinkState.DOWN and link.claimer.state is ClaimState.CLAIMING:
            await asyncio.sleep(max(0.005, link.claimer.settle_time(time.monotonic())))
            link.claimer.poll(time.monotonic())

    def _send_now(self, link: CanInterface, frame: OutFrame) -> bool:
        bus = link.bus
        if bus is None:
            return False
        message = can.Message(arbitration_id=frame.arbitration_id, data=frame.data, is_extended_id=True)
        try:
            bus.send(message, timeout=_TX_TIMEOUT_S)
        except _RECEIVE_ERRORS as exc:
            link.stats.errors += 1
            log.warning("CAN interface %s: sending 0x%08X failed: %s", link.name, frame.arbitration_id, exc)
            return False
        self.pipeline.process(time.time(), frame.arbitration_id, frame.data, link.stats, own=True)
        return True

    def _fail_queued(self, link: CanInterface, reason: str) -> None:
        # Never send a command later than asked: a slide must not move minutes after the click.
        for item in link.queue.drain():
            resolve(item.future, CanTransmitError(reason))
