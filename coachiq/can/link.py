"""One CAN interface's state, where its reader hands frames, and its metrics.

`CanInterface` is what the CAN service (coachiq/can/interface.py) keeps per configured bus: the bus,
its link state, statistics, address claim, transmit queue and the counters of refused records.
`keep_running` restarts any of its loops that ends, with a P1 alert until the restart holds.
`LinkReceiver` is where the interface's reader (coachiq/can/reader.py) hands what it reads: data
frames go through the receive pipeline, error frames set bus-off, malformed records are counted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from enum import StrEnum
from typing import Any

import can
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from coachiq.can.address_claim import AddressClaimer
from coachiq.can.pipeline import InterfaceStats, ReceivePipeline
from coachiq.can.reader import SocketReader, ThreadReader
from coachiq.can.transmit import TransmitQueue
from coachiq.core.alerts import AlertManager, Priority
from coachiq.core.tasks import cancel_all
from coachiq.settings import CanInterfaceSettings

log = logging.getLogger(__name__)

__all__ = [
    "SIMULATED_CHANNEL",
    "TX_QUEUE_SIZE",
    "CanCollector",
    "CanInterface",
    "LinkReceiver",
    "LinkState",
    "TokenBucket",
    "keep_running",
    "open_bus",
    "simulated_channel",
    "simulated_interfaces",
]

SIMULATED_CHANNEL = "coachiq-sim"
TX_QUEUE_SIZE = 256
_CAN_ERR_BUSOFF = 0x40  # SocketCAN error-frame class bit
LOOP_RESTART_MAX_S = 5.0  # restarts of a loop that keeps dying back off up to this


def simulated_interfaces(extra: Sequence[str] = ()) -> list[CanInterfaceSettings]:
    """The interface list used when no CAN hardware is configured.

    `extra`: names of further simulated buses (a chassis bus), each on its own virtual channel.
    """
    return [CanInterfaceSettings(name="house", interface="virtual", channel=SIMULATED_CHANNEL),
            *(CanInterfaceSettings(name=name, interface="virtual", channel=simulated_channel(name))
              for name in extra if name != "house")]


def simulated_channel(interface: str) -> str:
    """The virtual channel of a simulated bus: the house bus's own, or one per further bus."""
    return SIMULATED_CHANNEL if interface == "house" else f"{SIMULATED_CHANNEL}-{interface}"


def open_bus(settings: CanInterfaceSettings) -> can.BusABC:
    """Open the python-can bus an interface setting describes."""
    return can.Bus(interface=settings.interface, channel=settings.channel, bitrate=settings.bitrate)



class LinkState(StrEnum):
    """State of one interface's bus."""

    DOWN = "down"
    UP = "up"
    BUS_OFF = "bus_off"


class TokenBucket:
    """A client's rate limit: `burst` frames at once, refilled at `rate` per second."""

    __slots__ = ("last", "tokens")

    def __init__(self, burst: float, now: float) -> None:
        self.tokens = burst
        self.last = now


class CanInterface:
    """One logical interface (house, chassis): its bus, statistics, address claim and transmit queue."""

    def __init__(self, settings: CanInterfaceSettings, claimer: AddressClaimer) -> None:
        """State starts down; the service's supervisor opens the bus."""
        self.settings = settings
        self.name = settings.name
        self.stats = InterfaceStats(settings.name, settings.bitrate)
        self.claimer = claimer
        self.state = LinkState.DOWN
        self.bus: can.BusABC | None = None
        self.last_error = "not opened yet"
        self.next_retry_s = 0.0
        self.reconnects = 0
        self.up_since: float | None = None
        self.queue = TransmitQueue(TX_QUEUE_SIZE)
        self.next_allowed: dict[int, float] = {}
        self.clients: dict[str, TokenBucket] = {}
        self.loop_faults: dict[str, str] = {}  # loop -> why it last ended, until its restart has held
        self.loop_restarts = 0
        self.fault = asyncio.Event()
        self.reader: SocketReader | ThreadReader | None = None
        self.refused = 0  # records that were no classic CAN data frame
        self.refused_reasons: dict[str, int] = {}


async def keep_running(link: CanInterface, what: str, run: Callable[[], Coroutine[Any, Any, None]],
                       alerts: AlertManager | None, restart_hold_s: float) -> None:
    """Run one of the interface's loops for good: restart it whenever it ends.

    A loop that ends is logged at once, reported by health, raised as a P1 alert (which puts the
    coach in safe state) and restarted at once, then after a back-off while it keeps dying. The alert
    clears once the restarted loop has run `restart_hold_s`.
    """
    key = f"can:{link.name}:{what.replace(' ', '_')}"
    backoff = 0.0
    while True:
        task = asyncio.create_task(run(), name=f"can-{link.name}-{what.replace(' ', '-')}")
        try:
            done, _ = await asyncio.wait([task], timeout=restart_hold_s)
            if not done:
                if link.loop_faults.pop(what, None) is not None:
                    log.info("CAN interface %s: the restarted %s holds", link.name, what)
                    if alerts is not None:
                        alerts.clear(key)
                backoff = 0.0
                await asyncio.wait([task])
        except asyncio.CancelledError:
            await cancel_all([task])
            raise
        error = None if task.cancelled() else task.exception()
        reason = f"{type(error).__name__}: {error}" if error is not None else "it returned"
        if error is not None:
            log.error("CAN interface %s: the %s stopped (%s); restarting it", link.name, what, reason,
                      exc_info=error)
        else:
            log.error("CAN interface %s: the %s stopped (%s); restarting it", link.name, what, reason)
        link.loop_restarts += 1
        link.loop_faults[what] = f"the {what} stopped ({reason}) and was restarted"
        if alerts is not None:
            alerts.raise_alert(key, Priority.P1, "can",
                                    f"CAN interface '{link.name}': the {what} stopped ({reason}); "
                                    "restarting it")
        if backoff:
            await asyncio.sleep(backoff)
        backoff = min(max(0.1, backoff * 2), LOOP_RESTART_MAX_S)


class LinkReceiver:
    """Where the reader of one interface hands its frames (coachiq.can.reader.FrameHandler)."""

    __slots__ = ("alerts", "link", "on_fault", "pipeline", "stats")

    def __init__(self, link: CanInterface, pipeline: ReceivePipeline, alerts: AlertManager | None,
                 on_fault: Callable[[CanInterface, BaseException], None]) -> None:
        """`on_fault` takes the interface down (the reader has stopped)."""
        self.link = link
        self.pipeline = pipeline
        self.alerts = alerts
        self.on_fault = on_fault
        self.stats = link.stats

    def frames(self, frames: list[tuple[float, int, bytes]]) -> None:
        """29-bit data frames read together: through the receive pipeline (frames after bus-off: recovered)."""
        link = self.link
        if link.state is not LinkState.UP:
            if link.state is LinkState.DOWN:
                return
            self._recovered()
        self.pipeline.process_frames(frames, self.stats)

    def standard_frame(self) -> None:
        """An 11-bit frame: counted, not decoded."""
        link = self.link
        if link.state is LinkState.DOWN:
            return
        if link.state is LinkState.BUS_OFF:
            self._recovered()
        self.stats.rx_frames += 1  # RV-C uses 29-bit identifiers only; count, do not decode

    def _recovered(self) -> None:
        self.link.state = LinkState.UP  # frames flow again: the controller recovered
        alerts = self.alerts
        if alerts is not None:
            alerts.clear(f"can:{self.link.name}")

    def error_frame(self, error_class: int) -> None:
        """An error frame: counted; bus-off raises a P1."""
        link = self.link
        if link.state is LinkState.DOWN:
            return
        self.stats.errors += 1
        if error_class & _CAN_ERR_BUSOFF:
            link.state = LinkState.BUS_OFF
            alerts = self.alerts
            if alerts is not None:
                alerts.raise_alert(f"can:{link.name}", Priority.P1, "can", f"CAN interface '{link.name}' is bus-off")

    def refused(self, reason: str) -> None:
        """A record that is no data frame: counted, each reason logged once."""
        link = self.link
        link.refused += 1
        self.stats.errors += 1
        reasons = link.refused_reasons
        if reason in reasons or len(reasons) >= 16:
            reasons[reason] = reasons.get(reason, 0) + 1  # each reason is logged once, then counted
            log.debug("CAN interface %s refused %s", link.name, reason)
            return
        reasons[reason] = 1
        log.warning("CAN interface %s refused %s; counted from now on (health data: refused)", link.name, reason)

    def fault(self, exc: BaseException) -> None:
        """The reader stopped on an error."""
        self.on_fault(self.link, exc)


class CanCollector:
    """Prometheus collector reading the interface counters at scrape time (nothing per frame)."""

    def __init__(self, links: Mapping[str, CanInterface]) -> None:
        """`links`: the service's interfaces by name, read at each scrape."""
        self.links = links

    def describe(self) -> Iterable[Metric]:
        """No fixed description: the interfaces are known only once the service starts."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Counters and gauges per interface."""
        counters = {
            "rx_frames": CounterMetricFamily("coachiq_can_rx_frames", "CAN frames received.", labels=["interface"]),
            "tx_frames": CounterMetricFamily("coachiq_can_tx_frames", "CAN frames sent.", labels=["interface"]),
            "errors": CounterMetricFamily("coachiq_can_errors", "CAN errors (error frames, failed sends, faults).",
                                          labels=["interface"]),
            "dropped_repeats": CounterMetricFamily("coachiq_can_dropped_repeats",
                                                   "Frames dropped before decoding: same payload as last time.",
                                                   labels=["interface"]),
        }
        refused = CounterMetricFamily("coachiq_can_refused_records",
                                      "Received records that were no classic CAN data frame (refused).",
                                      labels=["interface"])
        load = GaugeMetricFamily("coachiq_can_bus_load_percent", "Estimated bus load.", labels=["interface"])
        up = GaugeMetricFamily("coachiq_can_up", "1 while the interface is up.", labels=["interface"])
        last = GaugeMetricFamily("coachiq_can_last_frame_timestamp_seconds", "Time of the last frame.",
                                 labels=["interface"])
        for link in list(self.links.values()):
            stats = link.stats
            for key, family in counters.items():
                family.add_metric([link.name], getattr(stats, key))
            refused.add_metric([link.name], link.refused)
            load.add_metric([link.name], stats.bus_load())
            up.add_metric([link.name], 1.0 if link.state is LinkState.UP else 0.0)
            if stats.last_frame_time is not None:
                last.add_metric([link.name], stats.last_frame_time)
        yield from counters.values()
        yield from (refused, load, up, last)
