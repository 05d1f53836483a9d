"""The frame-level receive path: count every frame, hand network management frames to their handler.

Every frame an interface reads or sends goes through ReceivePipeline: it updates the interface's
counters (frames, bits for the bus load, last-seen times), gives the J1939 network management and
transport frames (request, TP.DT, TP.CM, address claim) to the CAN service's control handler, and hands
every other frame, unchanged and in order, to the sink: the consumer of the payloads (the RV-C service
installs its receiver there; coachiq/rvc/receive.py). Without a sink frames are only counted.

The CAN layer knows nothing of what the payloads mean; the sink may count what it drops in the
interface's statistics (dropped_repeats).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Protocol

__all__ = [
    "CONTROL_PFS",
    "ControlHandler",
    "FrameSink",
    "InterfaceStats",
    "ReceivePipeline",
    "frame_bits",
]

# Network management and transport (request, TP.DT, TP.CM, address claim): handled by the CAN service,
# never filtered by a consumer, because a repeated claim or BAM is meaningful.
CONTROL_PFS = frozenset({0xEA, 0xEB, 0xEC, 0xEE})


def frame_bits(dlc: int, extended: bool = True) -> int:
    """Bits one data frame occupies on the wire, bit stuffing estimated.

    Without stuffing an extended frame is 67 + 8*dlc bits (a standard one 47 + 8*dlc) including the
    inter-frame space. Stuffing adds at most one bit per four of the 54 + 8*dlc stuffable bits; random
    data needs about a third of that worst case, which is what we add.
    """
    fixed, stuffable = (67, 54) if extended else (47, 34)
    return fixed + 8 * dlc + ((stuffable + 8 * dlc - 1) // 4) // 3


_BITS = tuple(frame_bits(dlc) for dlc in range(65))
_CONTROL = tuple(pf in CONTROL_PFS for pf in range(256))


class InterfaceStats:
    """Counters of one CAN interface; the receive path updates them for every frame."""

    __slots__ = ("_load", "_load_bits", "_load_t", "bitrate", "bits", "dropped_repeats", "errors",
                 "last_frame_time", "last_rx_time", "name", "rx_frames", "tx_frames")

    def __init__(self, name: str, bitrate: int = 250_000) -> None:
        """`bitrate` in bit/s is the denominator of the bus load."""
        self.name = name
        self.bitrate = bitrate
        self.rx_frames = 0
        self.tx_frames = 0
        self.errors = 0
        self.dropped_repeats = 0  # counted by the sink: frames it dropped unread (repeats)
        self.bits = 0
        self.last_frame_time: float | None = None  # time of the last frame, either way
        self.last_rx_time: float | None = None  # time of the last frame from another node
        self._load_t = time.monotonic()
        self._load_bits = 0
        self._load = 0.0

    def bus_load(self, now: float | None = None, window: float = 1.0) -> float:
        """Bus load in % over the last `window` seconds or more (the previous figure until then)."""
        now = time.monotonic() if now is None else now
        elapsed = now - self._load_t
        if elapsed >= window:
            self._load = min(100.0, 100.0 * (self.bits - self._load_bits) / elapsed / self.bitrate)
            self._load_t, self._load_bits = now, self.bits
        return round(self._load, 1)

    def snapshot(self) -> dict[str, float | int | None]:
        """The counters as a plain dict (health data, diagnostics)."""
        return {"rx_frames": self.rx_frames, "tx_frames": self.tx_frames, "errors": self.errors,
                "dropped_repeats": self.dropped_repeats, "bus_load_percent": self.bus_load(),
                "last_frame_time": self.last_frame_time}


# (timestamp, arbitration id, payload, interface statistics, own) of one network management frame.
ControlHandler = Callable[[float, int, bytes, InterfaceStats, bool], None]


class FrameSink(Protocol):
    """The consumer of the payloads an interface receives (and sends: `own`)."""

    def receive(self, frames: list[tuple[float, int, bytes]], stats: InterfaceStats, own: bool) -> int:
        """Take (time, 29-bit identifier, payload) frames read together, in order; returns how many it
        found new."""


class ReceivePipeline:
    """Receive path shared by every interface; not thread-safe (runs in the event loop only)."""

    def __init__(self, sink: FrameSink | None = None) -> None:
        """`sink` receives every frame but the network management ones (None: frames are only counted)."""
        self.sink = sink
        self.control: ControlHandler | None = None

    def process(self, timestamp: float, arbitration_id: int, data: bytes, stats: InterfaceStats,
                own: bool = False) -> bool:
        """Run one frame through; returns True when the sink found it new."""
        return self.process_frames([(timestamp, arbitration_id, data)], stats, own) == 1

    def process_batch(self, timestamp: float, frames: Iterable[tuple[int, bytes]], stats: InterfaceStats,
                      own: bool = False) -> int:
        """Run (identifier, payload) frames that share one time stamp through (log replay); returns how
        many the sink found new."""
        return self.process_frames([(timestamp, arbitration_id, data) for arbitration_id, data in frames], stats,
                                   own)

    def process_frames(self, frames: list[tuple[float, int, bytes]], stats: InterfaceStats,
                       own: bool = False) -> int:
        """Run (time, identifier, payload) frames read together through; returns how many the sink found new.

        The per-frame bookkeeping is done once for the batch: at full bus load the loop around the
        frames is much of the cost. `own`: frames this server sent. A network management frame reaches
        the control handler after the frames before it have reached the sink, so the order holds.
        """
        control = self.control
        sink = self.sink
        bits = new = 0
        done = 0  # frames counted so far (all of them unless a handler raised)
        try:
            start = 0
            for index, frame in enumerate(frames):
                done = index + 1
                timestamp, arbitration_id, data = frame
                bits += _BITS[len(data)]
                if _CONTROL[(arbitration_id >> 16) & 0xFF]:
                    if sink is not None and index > start:
                        new += sink.receive(frames[start:index], stats, own)
                    start = index + 1
                    if control is not None:
                        control(timestamp, arbitration_id, data, stats, own)
            if sink is not None and start < len(frames):
                new += sink.receive(frames[start:] if start else frames, stats, own)
        finally:
            if done:
                timestamp = frames[done - 1][0]
                if own:
                    stats.tx_frames += done
                else:
                    stats.rx_frames += done
                    stats.last_rx_time = timestamp
                stats.bits += bits
                stats.last_frame_time = timestamp
        return new
