"""J1939-21 transport protocol (multi-packet messages) as a pure state machine.

Messages longer than 8 bytes travel as a connection-management frame (TP.CM, PGN 0xEC00) followed by
data frames (TP.DT, PGN 0xEB00) of 7 bytes each. This module reassembles broadcast (BAM) and
peer-to-peer (RTS/CTS) transfers addressed to us, and builds the frames of a BAM transfer. It never
sleeps and never reads a clock: the caller passes `now` (seconds, monotonic) to `feed` and `expire`
and sends the frames they return.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from coachiq.can.ids import GLOBAL_ADDRESS, compose_id

__all__ = [
    "ABORT_BAD_SEQUENCE",
    "ABORT_RESOURCES",
    "ABORT_TIMEOUT",
    "ABORT_TOO_LARGE",
    "MAX_MESSAGE_SIZE",
    "T1",
    "T2",
    "T3",
    "T4",
    "TP_CM",
    "TP_DT",
    "TR",
    "FeedResult",
    "Frame",
    "Message",
    "TransportReceiver",
    "TransportStats",
    "bam_frames",
]

TP_CM = 0xEC00
TP_DT = 0xEB00
MAX_MESSAGE_SIZE = 1785  # 255 packets x 7 bytes

# J1939-21 timeouts in seconds.
TR = 0.200  # a node must answer within Tr
T1 = 0.750  # receiver: longest gap between data packets
T2 = 1.250  # receiver: longest wait for data after sending CTS
T3 = 1.250  # sender: longest wait for CTS or end-of-message ACK after the last packet
T4 = 1.050  # sender: longest hold after CTS(0) before the next CTS

CONTROL_RTS = 16
CONTROL_CTS = 17
CONTROL_EOM_ACK = 19
CONTROL_BAM = 32
CONTROL_ABORT = 255

ABORT_BUSY = 1
ABORT_RESOURCES = 2
ABORT_TIMEOUT = 3
ABORT_BAD_SEQUENCE = 7
ABORT_TOO_LARGE = 9

_PRIORITY = 7  # J1939-21 sends transport frames at the lowest priority


@dataclass(frozen=True, slots=True)
class Frame:
    """A frame to send: 29-bit identifier and 8 data bytes."""

    can_id: int
    data: bytes


@dataclass(frozen=True, slots=True)
class Message:
    """A reassembled multi-packet message."""

    dgn: int
    source_address: int
    destination: int  # 0xFF for a broadcast (BAM) transfer
    data: bytes


@dataclass(frozen=True, slots=True)
class FeedResult:
    """What one received frame produced: a completed message and/or frames to send back."""

    message: Message | None = None
    frames: tuple[Frame, ...] = ()


_NOTHING = FeedResult()


@dataclass(slots=True)
class TransportStats:
    """Counters since the receiver was created."""

    completed: int = 0
    aborted: int = 0
    timed_out: int = 0
    bad_sequence: int = 0
    evicted: int = 0
    rejected: int = 0  # announcements that were malformed or too large


@dataclass(slots=True)
class _Session:
    dgn: int
    size: int
    packets: int
    broadcast: bool
    deadline: float
    data: bytearray = field(default_factory=bytearray)
    next_sequence: int = 1
    window_end: int = 0  # last sequence number the current CTS allows (RTS/CTS only)


class TransportReceiver:
    """Reassembles multi-packet messages sent to `own_address` or broadcast.

    Sessions are keyed by (source, destination); at most `max_sessions` run at once and the oldest is
    evicted to make room. `feed` returns any completed message and the frames (CTS, end-of-message
    ACK, Abort) the caller must send; `expire` drops sessions whose timer ran out.
    """

    def __init__(self, own_address: int = GLOBAL_ADDRESS, max_sessions: int = 16,
                 packets_per_cts: int = 16, max_size: int = MAX_MESSAGE_SIZE) -> None:
        """own_address 0xFF means: we have no address, so only broadcast transfers are received."""
        if not 0 <= own_address <= 0xFF:
            raise ValueError(f"own_address {own_address} is out of range: allowed 0..255")
        if max_sessions < 1:
            raise ValueError(f"max_sessions {max_sessions} must be at least 1")
        if not 1 <= packets_per_cts <= 255:
            raise ValueError(f"packets_per_cts {packets_per_cts} is out of range: allowed 1..255")
        if not 9 <= max_size <= MAX_MESSAGE_SIZE:
            raise ValueError(f"max_size {max_size} is out of range: allowed 9..{MAX_MESSAGE_SIZE}")
        self.own_address = own_address
        self.max_sessions = max_sessions
        self.packets_per_cts = packets_per_cts
        self.max_size = max_size
        self.stats = TransportStats()
        self._sessions: dict[tuple[int, int], _Session] = {}

    @property
    def session_count(self) -> int:
        """Number of transfers in progress."""
        return len(self._sessions)

    def feed(self, can_id: int, data: bytes, now: float) -> FeedResult:
        """Process one received frame; frames that are not TP.CM/TP.DT are ignored cheaply."""
        pf = (can_id >> 16) & 0xFF
        if pf != 0xEC and pf != 0xEB:
            return _NOTHING
        destination = (can_id >> 8) & 0xFF
        if destination != GLOBAL_ADDRESS and destination != self.own_address:
            return _NOTHING  # a peer-to-peer transfer between two other nodes
        source = can_id & 0xFF
        if len(data) < 8:
            if pf == 0xEC or not data:
                self.stats.rejected += 1
                return _NOTHING
            # Some nodes send the last data packet unpadded; J1939 pads with 0xFF, so do that here.
            data = bytes(data) + b"\xff" * (8 - len(data))
        if pf == 0xEC:
            return self._connection(source, destination, bytes(data), now)
        return self._data(source, destination, bytes(data), now)

    def expire(self, now: float) -> tuple[Frame, ...]:
        """Drop sessions whose timer ran out; returns Abort frames for peer-to-peer ones."""
        frames: list[Frame] = []
        for key in [k for k, s in self._sessions.items() if s.deadline < now]:
            session = self._sessions.pop(key)
            self.stats.timed_out += 1
            if not session.broadcast:
                frames.append(self._abort(key[0], session.dgn, ABORT_TIMEOUT))
        return tuple(frames)

    # --- internals --------------------------------------------------------------------------------

    def _connection(self, source: int, destination: int, data: bytes, now: float) -> FeedResult:
        control = data[0]
        size = data[1] | (data[2] << 8)
        packets = data[3]
        dgn = data[5] | (data[6] << 8) | (data[7] << 16)
        key = (source, destination)
        if control == CONTROL_BAM and destination == GLOBAL_ADDRESS:
            if not self._valid(size, packets):
                self.stats.rejected += 1
                return _NOTHING
            self._open(key, _Session(dgn, size, packets, broadcast=True, deadline=now + T1))
            return _NOTHING
        if control == CONTROL_RTS and destination == self.own_address != GLOBAL_ADDRESS:
            if not self._valid(size, packets):
                self.stats.rejected += 1
                return FeedResult(frames=(self._abort(source, dgn, ABORT_TOO_LARGE),))
            limit = data[4] or 255  # 0xFF (or a meaningless 0): the sender sets no limit
            window = min(packets, limit, self.packets_per_cts)
            session = _Session(dgn, size, packets, broadcast=False, deadline=now + T2, window_end=window)
            self._open(key, session)
            return FeedResult(frames=(self._cts(source, dgn, window, 1),))
        if control == CONTROL_ABORT:
            current = self._sessions.get(key)
            if current is not None and not current.broadcast:
                del self._sessions[key]
                self.stats.aborted += 1
        return _NOTHING

    def _data(self, source: int, destination: int, data: bytes, now: float) -> FeedResult:
        key = (source, destination)
        session = self._sessions.get(key)
        if session is None:
            return _NOTHING
        if data[0] != session.next_sequence:
            del self._sessions[key]
            self.stats.bad_sequence += 1
            if session.broadcast:
                return _NOTHING
            return FeedResult(frames=(self._abort(source, session.dgn, ABORT_BAD_SEQUENCE),))
        session.data += data[1:8]
        session.next_sequence += 1
        if data[0] == session.packets:
            del self._sessions[key]
            self.stats.completed += 1
            message = Message(session.dgn, source, destination, bytes(session.data[:session.size]))
            if session.broadcast:
                return FeedResult(message=message)
            ack = _cm(CONTROL_EOM_ACK, session.size, session.packets, 0xFF, session.dgn)
            return FeedResult(message=message, frames=(self._frame(source, ack),))
        if not session.broadcast and data[0] == session.window_end:
            window = min(session.packets - data[0], self.packets_per_cts)
            session.window_end = data[0] + window
            session.deadline = now + T2
            return FeedResult(frames=(self._cts(source, session.dgn, window, data[0] + 1),))
        session.deadline = now + T1
        return _NOTHING

    def _valid(self, size: int, packets: int) -> bool:
        return 9 <= size <= self.max_size and packets == (size + 6) // 7

    def _open(self, key: tuple[int, int], session: _Session) -> None:
        if self._sessions.pop(key, None) is not None:
            self.stats.aborted += 1  # a new announcement from the same sender replaces its old transfer
        while len(self._sessions) >= self.max_sessions:
            oldest = next(iter(self._sessions))  # dicts keep insertion order: first is oldest
            del self._sessions[oldest]
            self.stats.evicted += 1
        self._sessions[key] = session

    def _cts(self, destination: int, dgn: int, count: int, next_sequence: int) -> Frame:
        data = bytes((CONTROL_CTS, count, next_sequence, 0xFF, 0xFF, dgn & 0xFF, (dgn >> 8) & 0xFF,
                      (dgn >> 16) & 0xFF))
        return self._frame(destination, data)

    def _abort(self, destination: int, dgn: int, reason: int) -> Frame:
        data = bytes((CONTROL_ABORT, reason, 0xFF, 0xFF, 0xFF, dgn & 0xFF, (dgn >> 8) & 0xFF,
                      (dgn >> 16) & 0xFF))
        return self._frame(destination, data)

    def _frame(self, destination: int, data: bytes) -> Frame:
        return Frame(compose_id(TP_CM, self.own_address, _PRIORITY, destination), data)


def _cm(control: int, size: int, packets: int, limit: int, dgn: int) -> bytes:
    return bytes((control, size & 0xFF, size >> 8, packets, limit, dgn & 0xFF, (dgn >> 8) & 0xFF,
                  (dgn >> 16) & 0xFF))


def bam_frames(dgn: int, data: bytes, source_address: int, priority: int = _PRIORITY) -> list[Frame]:
    """The frames of a broadcast (BAM) transfer: TP.CM announce then TP.DT packets padded with 0xFF.

    The caller sends them in order, 50-200 ms apart (J1939-21). Raises ValueError when `data` fits in
    one frame or exceeds 1785 bytes.
    """
    if not 9 <= len(data) <= MAX_MESSAGE_SIZE:
        raise ValueError(f"data is {len(data)} bytes: a BAM transfer carries 9..{MAX_MESSAGE_SIZE}")
    if not 0 <= dgn <= 0x3FFFF:
        raise ValueError(f"dgn 0x{dgn:X} is out of range: allowed 0x0..0x3FFFF")
    packets = (len(data) + 6) // 7
    frames = [Frame(compose_id(TP_CM, source_address, priority, GLOBAL_ADDRESS),
                    _cm(CONTROL_BAM, len(data), packets, 0xFF, dgn))]
    dt_id = compose_id(TP_DT, source_address, priority, GLOBAL_ADDRESS)
    for index in range(packets):
        chunk = data[index * 7:index * 7 + 7]
        frames.append(Frame(dt_id, bytes((index + 1,)) + chunk + b"\xff" * (7 - len(chunk))))
    return frames
