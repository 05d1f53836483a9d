"""The RV-C side of the receive path: repeat filter -> decode -> publish, synchronous and allocation-light.

The CAN service counts every frame and hands the data frames to a sink (coachiq/can/pipeline.py);
the RV-C service installs an RvcReceiver there. The live server and the benchmark run frames through
the same classes, so the measured throughput is the server's.

RV-C nodes re-broadcast their status every few hundred milliseconds and it rarely changes: a frame
whose payload equals the last one from the same sender and instance is counted (in the interface's
`dropped_repeats`) and dropped before decoding, and only its last-seen time is refreshed (stale
detection needs to know the device is alive, not that it said the same thing again).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from coachiq.can.pipeline import InterfaceStats

if TYPE_CHECKING:
    from coachiq.rvc.codec import Codec, Decoded
    from coachiq.rvc.spec import SpecDatabase

__all__ = ["FrameHandler", "RvcFrame", "RvcReceiver", "instance_bytes"]

_NO_INSTANCE = -1
_EVERY_FRAME = -2  # in place of the instance byte: a DGN whose every frame is an event, never a repeat
EVENT_DGNS = frozenset({0xE800})
"""DGNs that answer something (ACKNOWLEDGMENT): the same bytes again are a new answer, so never filtered."""


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


class RvcReceiver:
    """Repeat filter, decoder and publisher of RV-C payloads; a FrameSink of the CAN receive path.

    Not thread-safe (runs in the event loop only).
    """

    def __init__(self, codec: Codec | None = None, instances: Mapping[int, int] | None = None,
                 publish: FrameHandler | None = None) -> None:
        """Without a codec frames are only filtered (the RV-C service attaches one when it starts)."""
        self.codec = codec
        self.publish = publish
        self._instances: dict[int, int] = dict(instances or {})
        # arbitration id -> (instance byte, -1 for none, -2 for an event DGN; dgn; source address)
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
        dgn = (arbitration_id >> 8) & 0x3FFFF
        if (dgn & 0xFF00) < 0xF000:  # destination-specific: the PS byte is an address
            dgn &= 0x3FF00
        kind = _EVERY_FRAME if dgn in EVENT_DGNS else self._instances.get(dgn, _NO_INSTANCE)
        info = (kind, dgn, arbitration_id & 0xFF)
        self._ids[arbitration_id] = info
        return info

    def receive(self, frames: list[tuple[float, int, bytes]], stats: InterfaceStats, own: bool) -> int:
        """Filter and decode (time, identifier, payload) frames read together; returns how many were new."""
        ids = self._ids
        last = self._last
        decoding = self.codec is not None
        repeats = new = 0
        try:
            for timestamp, arbitration_id, data in frames:
                info = ids.get(arbitration_id)
                if info is None:
                    info = self._learn(arbitration_id)
                kind, dgn, source = info
                # Instance keys live above bit 29 so they never collide with a bare identifier.
                key = arbitration_id | ((data[kind] + 1) << 29) if 0 <= kind < len(data) else arbitration_id
                entry = last.get(key)
                if entry is None:
                    last[key] = [data, timestamp]
                else:
                    entry[1] = timestamp
                    if entry[0] == data and kind != _EVERY_FRAME:
                        repeats += 1
                        continue
                    entry[0] = data
                new += 1
                if decoding:
                    self.deliver(timestamp, arbitration_id, dgn, source, data, stats.name, own)
        finally:
            stats.dropped_repeats += repeats
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
