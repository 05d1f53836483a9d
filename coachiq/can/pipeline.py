"""The receive path, synchronous and allocation-light: repeat filter -> decode -> statistics -> publish.

The live CAN service and the benchmark run frames through the same ReceivePipeline, so the measured
throughput is the service's. RV-C nodes re-broadcast their status every few hundred milliseconds and
it rarely changes: a frame whose payload equals the last one from the same sender and instance is
counted and dropped before decoding, and only its last-seen time is refreshed (stale detection needs
to know the device is alive, not that it said the same thing again).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from coachiq.rvc.codec import Codec, Decoded
    from coachiq.rvc.spec import SpecDatabase

__all__ = [
    "CONTROL_PFS",
    "FrameHandler",
    "InterfaceStats",
    "ReceivePipeline",
    "RvcFrame",
    "frame_bits",
    "instance_bytes",
]

# Network management and transport (request, TP.DT, TP.CM, address claim): never repeat-filtered,
# because a repeated BAM or claim is meaningful, and handed to the control handler.
CONTROL_PFS = frozenset({0xEA, 0xEB, 0xEC, 0xEE})
_CONTROL = -2
_NO_INSTANCE = -1


def frame_bits(dlc: int, extended: bool = True) -> int:
    """Bits one data frame occupies on the wire, bit stuffing estimated.

    Without stuffing an extended frame is 67 + 8*dlc bits (a standard one 47 + 8*dlc) including the
    inter-frame space. Stuffing adds at most one bit per four of the 54 + 8*dlc stuffable bits; random
    data needs about a third of that worst case, which is what we add.
    """
    fixed, stuffable = (67, 54) if extended else (47, 34)
    return fixed + 8 * dlc + ((stuffable + 8 * dlc - 1) // 4) // 3


_BITS = tuple(frame_bits(dlc) for dlc in range(65))


class InterfaceStats:
    """Counters of one CAN interface; the pipeline updates them for every frame."""

    __slots__ = ("_load", "_load_bits", "_load_t", "bitrate", "bits", "dropped_repeats", "errors",
                 "last_frame_time", "last_rx_time", "name", "rx_frames", "tx_frames")

    def __init__(self, name: str, bitrate: int = 250_000) -> None:
        """`bitrate` in bit/s is the denominator of the bus load."""
        self.name = name
        self.bitrate = bitrate
        self.rx_frames = 0
        self.tx_frames = 0
        self.errors = 0
        self.dropped_repeats = 0
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


class RvcFrame:
    """One decoded frame as published on the event bus topic "rvc.frame"."""

    __slots__ = ("can_id", "decoded", "dgn", "interface", "own", "source_address", "timestamp")

    def __init__(self, timestamp: float, can_id: int, interface: str, dgn: int, source_address: int,
                 decoded: Decoded, own: bool) -> None:
        """`timestamp` is the frame's receive time (seconds since the epoch)."""
        self.timestamp = timestamp
        self.can_id = can_id
        self.interface = interface
        self.dgn = dgn
        self.source_address = source_address
        self.decoded = decoded
        self.own = own

    def __repr__(self) -> str:
        return (f"RvcFrame(0x{self.can_id:08X} on {self.interface}, dgn=0x{self.dgn:05X}, "
                f"own={self.own}, {self.decoded!r})")


FrameHandler = Callable[[RvcFrame], None]
ControlHandler = Callable[[float, int, bytes, InterfaceStats, bool], None]


def instance_bytes(db: SpecDatabase) -> dict[int, int]:
    """DGN -> the byte holding its instance, for every DGN that has an instance field.

    When the instance is a bit field the whole byte is used: RV-C fills the rest of an instance byte
    with identity too (the AC line, a sub-instance), which tells devices apart just the same.
    """
    found: dict[int, int] = {}
    for spec in db:
        field = spec.field(spec.instance_field) if spec.instance_field else None
        if field is not None and field.width <= 8:
            found[spec.dgn] = field.byte
    return found


class ReceivePipeline:
    """Receive path shared by every interface; not thread-safe (runs in the event loop only)."""

    def __init__(self, codec: Codec | None = None, instances: Mapping[int, int] | None = None,
                 publish: FrameHandler | None = None) -> None:
        """Without a codec frames are only filtered and counted (the RV-C service attaches one later)."""
        self.codec = codec
        self.publish = publish
        self.control: ControlHandler | None = None
        self._instances: dict[int, int] = dict(instances or {})
        # arbitration id -> (instance byte or -1, or -2 for control frames; dgn; source address)
        self._ids: dict[int, tuple[int, int, int]] = {}
        # repeat-filter key -> [last payload, last-seen time]
        self._last: dict[int, list[Any]] = {}
        self.dgn_counts: dict[int, int] = {}
        self.unknown_dgns: dict[int, int] = {}
        self.decoded_frames = 0
        self.decode_errors = 0

    def attach(self, codec: Codec | None, instances: Mapping[int, int], publish: FrameHandler | None) -> None:
        """Start (or, with codec None, stop) decoding and publishing new payloads."""
        self.codec = codec
        self.publish = publish
        self._instances = dict(instances)
        self._ids.clear()  # the instance positions may have changed

    def _learn(self, arbitration_id: int) -> tuple[int, int, int]:
        pf = (arbitration_id >> 16) & 0xFF
        dgn = (arbitration_id >> 8) & 0x3FFFF
        if pf < 0xF0:
            dgn &= 0x3FF00
        kind = _CONTROL if pf in CONTROL_PFS else self._instances.get(dgn, _NO_INSTANCE)
        info = (kind, dgn, arbitration_id & 0xFF)
        self._ids[arbitration_id] = info
        return info

    def process(self, timestamp: float, arbitration_id: int, data: bytes, stats: InterfaceStats,
                own: bool = False) -> bool:
        """Run one frame through; returns True when its payload was new (and so decoded)."""
        return self.process_batch(timestamp, ((arbitration_id, data),), stats, own) == 1

    def process_batch(self, timestamp: float, frames: Iterable[tuple[int, bytes]], stats: InterfaceStats,
                      own: bool = False) -> int:
        """Run (identifier, payload) frames read together through; returns how many were new.

        The per-frame bookkeeping is done once for the batch: at full bus load nearly every frame is
        a repeat, and the loop around it is most of the cost. `own`: frames this server sent.
        """
        ids = self._ids
        last = self._last
        control = self.control
        decoding = self.codec is not None
        count = repeats = bits = new = 0
        try:
            for arbitration_id, data in frames:
                count += 1
                bits += _BITS[len(data)]
                info = ids.get(arbitration_id)
                if info is None:
                    info = self._learn(arbitration_id)
                kind, dgn, source = info
                if kind == _CONTROL:
                    if control is not None:
                        control(timestamp, arbitration_id, data, stats, own)
                else:
                    # Instance keys live above bit 29 so they never collide with a bare identifier.
                    key = arbitration_id | ((data[kind] + 1) << 29) if 0 <= kind < len(data) else arbitration_id
                    entry = last.get(key)
                    if entry is None:
                        last[key] = [data, timestamp]
                    else:
                        entry[1] = timestamp
                        if entry[0] == data:
                            repeats += 1
                            continue
                        entry[0] = data
                new += 1
                if decoding:
                    self.deliver(timestamp, arbitration_id, dgn, source, data, stats.name, own)
        finally:
            if count:
                if own:
                    stats.tx_frames += count
                else:
                    stats.rx_frames += count
                    stats.last_rx_time = timestamp
                stats.dropped_repeats += repeats
                stats.bits += bits
                stats.last_frame_time = timestamp
        return new

    def deliver(self, timestamp: float, arbitration_id: int, dgn: int, source: int, data: bytes,
                interface: str, own: bool) -> Decoded | None:
        """Decode a new payload (also a reassembled multi-packet one), count it and publish it."""
        codec = self.codec
        if codec is None:
            return None
        decoded = codec.decode(dgn, data)
        self.decoded_frames += 1
        counts = self.dgn_counts
        counts[dgn] = counts.get(dgn, 0) + 1
        if decoded.name is None:
            self.unknown_dgns[dgn] = self.unknown_dgns.get(dgn, 0) + 1
        elif decoded.errors:
            self.decode_errors += 1
        publish = self.publish
        if publish is not None:
            publish(RvcFrame(timestamp, arbitration_id, interface, dgn, source, decoded, own))
        return decoded

    def last_seen(self, arbitration_id: int, instance: int | None = None) -> float | None:
        """Time the sender last sent this identifier (and instance), repeats included; None: never.

        `instance` matters only for DGNs the filter keys by instance (those with an instance field).
        """
        info = self._ids.get(arbitration_id)
        keyed_by_instance = info is not None and info[0] >= 0
        key = arbitration_id | ((instance + 1) << 29) if keyed_by_instance and instance is not None \
            else arbitration_id
        entry = self._last.get(key)
        return None if entry is None else float(entry[1])

    def forget(self) -> None:
        """Drop the repeat filter's memory, so the next frame of every sender is decoded again."""
        self._last.clear()
