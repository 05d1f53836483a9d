"""Receiving frames: SocketCAN's `can_frame` records read off the socket, or python-can's recv in a thread.

On the Pi a bus is a SocketCAN raw socket: the kernel queues one datagram per frame, the 16-byte
`struct can_frame` (u32 identifier with flags, u8 length, three pad bytes, eight data bytes), stamped
with the time the frame arrived (SO_TIMESTAMPNS). `SocketReader` reads those records itself from the
event loop; python-can's SocketcanBus only opens and binds the socket. The same reader reads the
`fd` interface (coachiq/can/fdbus.py), a datagram socket handed to the server by tests and benchmarks:
only the socket differs.

The reader wakes when a frame arrives and reads everything waiting. With `drain_s` above zero it then
stops listening and reads again `drain_s` later, for as long as frames keep coming, so that a busy bus
costs one wake-up per interval instead of one per frame; the first frame after a quiet spell is read
at once. The interval is the interface setting `drain_ms`; docs/architecture.md has the figures behind
its default. Readers with the same interval share one `ReadRounds`: a coach with a house and a chassis
bus, both busy, costs one wake-up per interval for both, not one each. The frames of one read are
handed over together (`FrameHandler.frames`), each with its own time stamp.

Buses without such a socket (python-can's virtual bus of the simulated coach, serial adapters) are
read by `ThreadReader`, one thread per bus handing batches of frames to the loop.

Records that are not a classic CAN data frame are refused and counted, never decoded: a wrong length
(a CAN FD frame, a truncated datagram), a remote frame (RV-C has none), a length above 8, an 11-bit
identifier with bits above the 11. Error frames are reported with their error class.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import socket
import struct
import threading
import time
from typing import Protocol

import can

from coachiq.can import mmsg

log = logging.getLogger(__name__)

__all__ = [
    "CAN_EFF_FLAG",
    "CAN_ERR_FLAG",
    "CAN_FRAME",
    "CAN_RTR_FLAG",
    "FrameHandler",
    "ReadRounds",
    "SocketReader",
    "StampedFrame",
    "ThreadReader",
    "pack_frame",
    "record_socket",
]

CAN_FRAME = struct.Struct("=IB3x8s")  # struct can_frame: can_id, len, pad, res0, len8_dlc, data[8]
CAN_EFF_FLAG = 0x80000000  # 29-bit identifier
CAN_RTR_FLAG = 0x40000000  # remote transmission request
CAN_ERR_FLAG = 0x20000000  # error frame; the identifier bits are the error class
CAN_EFF_MASK = 0x1FFFFFFF
CAN_SFF_MASK = 0x7FF
_CANFD_MTU = 72  # read up to a CAN FD frame so that one is seen whole, and refused
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TIMESPEC = struct.Struct("@ll")
_ANCILLARY = socket.CMSG_SPACE(_TIMESPEC.size)
_RECORD = CAN_FRAME.size
_DATA_FLAGS = CAN_EFF_FLAG | CAN_RTR_FLAG | CAN_ERR_FLAG  # of these, a 29-bit data frame has the first only
# Plain ints: the socket module's flags are an IntFlag, whose `&` runs Python code at every frame.
_TRUNCATED = int(socket.MSG_TRUNC)
_DONTWAIT = int(socket.MSG_DONTWAIT)

# Frames per read at most: everything waiting (a full bus brings ~2 per ms), with a bound so a
# babbling node cannot hold the loop for long.
READ_BATCH = 1024
BATCH_SLOTS = 64  # records per system call at most (a 15 ms drain of a full bus finds about 30)
_THREAD_POLL_S = 0.1
# python-can's virtual bus (the simulated coach) has neither a file descriptor nor a way to interrupt a
# blocking recv: its receive queue is the one handle, and a marker put there wakes the reader at once
# when the link closes. So its reader can wait long, and an idle simulated bus costs one wake-up a second.
QUEUE_POLL_S = 1.0
_WAKE = can.Message(arbitration_id=0, data=b"\0", is_extended_id=True)  # one byte: recv skips empty ones
RECEIVE_ERRORS = (can.CanError, OSError, ValueError)


StampedFrame = tuple[float, int, bytes]
"""(time the frame arrived, 29-bit identifier, payload)."""


class FrameHandler(Protocol):
    """What a reader hands frames to (the CAN service, per interface); called in the event loop."""

    def frames(self, frames: list[StampedFrame]) -> None:
        """Data frames with a 29-bit identifier read together, in order, each stamped when it arrived.
        The list is the handler's to keep."""

    def standard_frame(self) -> None:
        """A data frame with an 11-bit identifier: not RV-C, counted only."""

    def error_frame(self, error_class: int) -> None:
        """An error frame of the controller, with its error class bits."""

    def refused(self, reason: str) -> None:
        """A record that is no classic CAN data frame, with why."""

    def fault(self, exc: BaseException) -> None:
        """Reading failed: the reader has stopped."""


def pack_frame(arbitration_id: int, data: bytes, extended: bool = True) -> bytes:
    """One `can_frame` record of a data frame."""
    if len(data) > 8:
        raise ValueError(f"a CAN frame carries at most 8 bytes, got {len(data)}")
    return CAN_FRAME.pack(arbitration_id | CAN_EFF_FLAG if extended else arbitration_id, len(data), data)


def record_socket(bus: can.BusABC) -> socket.socket | None:
    """The socket of `bus` when it carries `can_frame` datagrams (socketcan, fd), else None."""
    sock = getattr(bus, "socket", None)
    if not isinstance(sock, socket.socket) or sock.fileno() < 0:
        return None
    family_can = getattr(socket, "AF_CAN", -1)
    if sock.family == family_can and sock.type == socket.SOCK_RAW:
        return sock
    if sock.family == socket.AF_UNIX and sock.type in (socket.SOCK_DGRAM, socket.SOCK_SEQPACKET):
        return sock
    return None


class ReadRounds:
    """One timer draining every busy socket whose reader joined it, every `drain_s` (see the module text).

    A reader joins after the read its socket woke it for, and leaves when a round finds its socket quiet
    (it listens again) or when it stops.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, drain_s: float) -> None:
        """`drain_s` above 0."""
        self.loop = loop
        self.drain_s = drain_s
        self.readers: list[SocketReader] = []
        self._timer: asyncio.TimerHandle | None = None

    def join(self, reader: SocketReader) -> None:
        """Read `reader` again at the next round (the next round comes at most `drain_s` from now)."""
        if reader not in self.readers:
            self.readers.append(reader)
        if self._timer is None:
            self._timer = self.loop.call_later(self.drain_s, self._round)

    def leave(self, reader: SocketReader) -> None:
        """Stop reading `reader` in rounds."""
        if reader in self.readers:
            self.readers.remove(reader)
        if not self.readers and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _round(self) -> None:
        self._timer = None
        for reader in list(self.readers):
            if reader.stopped:  # a handler stopped it during this round
                continue
            if not reader.read_waiting() and not reader.stopped:  # quiet: the next frame wakes it at once
                self.readers.remove(reader)
                reader.listen()
        if self.readers:
            self._timer = self.loop.call_later(self.drain_s, self._round)


class SocketReader:
    """Reads `can_frame` records from a datagram socket in the event loop (see the module docstring)."""

    def __init__(self, sock: socket.socket, loop: asyncio.AbstractEventLoop, handler: FrameHandler,
                 drain_s: float = 0.0, rounds: ReadRounds | None = None, batched: bool = True) -> None:
        """`drain_s`: 0 reads at every wake-up; above 0, a busy socket is drained every `drain_s`, in
        `rounds` when given (shared with other readers of the same interval), else in rounds of its own.
        `batched`: read many records per system call where the system can (else one per call)."""
        self.sock = sock
        self.loop = loop
        self.handler = handler
        self.drain_s = drain_s
        if rounds is not None and rounds.drain_s != drain_s:
            raise ValueError(f"a reader draining every {drain_s} s cannot join rounds of {rounds.drain_s} s")
        self.rounds = rounds if rounds is not None or drain_s <= 0 else ReadRounds(loop, drain_s)
        self.fd = sock.fileno()
        # An empty read on a sequenced-packet socket is the other end closing; on a datagram socket it
        # is an empty (malformed) record.
        self.eof_on_empty = sock.type == socket.SOCK_SEQPACKET
        self.listening = False
        self.stopped = False
        sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        # Many records per system call where the system offers it (coachiq/can/mmsg.py).
        self._batch = _batch_receiver(self.fd) if batched else None

    def start(self) -> None:
        """Listen for frames."""
        self.listen()

    def listen(self) -> None:
        """Wake at the next frame (after a quiet round)."""
        if not self.listening and not self.stopped:
            self.loop.add_reader(self.fd, self._readable)
            self.listening = True

    def stop(self) -> None:
        """Stop reading; the socket stays open (its bus closes it)."""
        self.stopped = True
        if self.listening:
            self.loop.remove_reader(self.fd)
            self.listening = False
        if self.rounds is not None:
            self.rounds.leave(self)

    def _readable(self) -> None:
        count = self.read_waiting()
        rounds = self.rounds
        if rounds is not None and count and not self.stopped:
            self.loop.remove_reader(self.fd)
            self.listening = False
            rounds.join(self)

    def read_waiting(self) -> int:
        """Read and hand over every record waiting (at most READ_BATCH); returns how many were read."""
        if self._batch is None:
            return self._read_each()
        receive = self._batch.receive
        handler = self.handler
        frames: list[StampedFrame] = []
        add = frames.append
        count = 0
        while count < READ_BATCH:
            wanted = READ_BATCH - count
            try:
                received = receive(wanted)
            except OSError as exc:
                self._fault(frames, exc)
                return count
            got = len(received)
            count += got
            # Most reads are 8-byte data frames only, each with its time stamp: those in one pass.
            plain = [(seconds + nanoseconds * 1e-9, can_id & CAN_EFF_MASK, data)
                     for length, flags, can_id, dlc, data, seconds, nanoseconds in received
                     if length == _RECORD and dlc == 8 and can_id & _DATA_FLAGS == CAN_EFF_FLAG
                     and not flags & _TRUNCATED and seconds >= 0]
            if len(plain) == got:
                frames += plain
                received = []
            for length, flags, can_id, dlc, data, seconds, nanoseconds in received:
                if length == _RECORD and not flags & _TRUNCATED and can_id & CAN_EFF_FLAG \
                        and not can_id & (CAN_RTR_FLAG | CAN_ERR_FLAG) and dlc <= 8:  # a data frame: most are
                    add((seconds + nanoseconds * 1e-9 if seconds >= 0 else time.time(), can_id & CAN_EFF_MASK,
                         data if dlc == 8 else data[:dlc]))
                    continue
                if frames:  # anything else is handled after the frames before it
                    handler.frames(frames)
                    frames = []
                    add = frames.append
                if self._other(length, flags, can_id, dlc):
                    return count
            if got < min(wanted, self._batch.slots):
                break  # nothing more waiting
        if frames:
            handler.frames(frames)
        return count

    def _fault(self, frames: list[StampedFrame], exc: OSError) -> None:
        """The socket failed: stop reading, hand over the frames read before it, then the fault."""
        self.stop()
        if frames:
            self.handler.frames(frames)
        self.handler.fault(exc)

    def _read_each(self) -> int:
        recvmsg = self.sock.recvmsg
        handler = self.handler
        unpack = CAN_FRAME.unpack
        unpack_time = _TIMESPEC.unpack_from
        frames: list[StampedFrame] = []
        add = frames.append
        count = 0
        while count < READ_BATCH:
            try:
                record, ancillary, flags, _address = recvmsg(_CANFD_MTU, _ANCILLARY, _DONTWAIT)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                self._fault(frames, exc)
                return count
            count += 1
            can_id = length = 0
            if len(record) == _RECORD:
                can_id, length, data = unpack(record)
                if not flags & _TRUNCATED and can_id & CAN_EFF_FLAG and not can_id & (CAN_RTR_FLAG | CAN_ERR_FLAG) \
                        and length <= 8:  # a data frame: most are
                    if ancillary:
                        seconds, nanoseconds = unpack_time(ancillary[0][2])
                        timestamp = seconds + nanoseconds * 1e-9
                    else:
                        timestamp = time.time()
                    add((timestamp, can_id & CAN_EFF_MASK, data if length == 8 else data[:length]))
                    continue
            if frames:  # anything else is handled after the frames before it
                handler.frames(frames)
                frames = []
                add = frames.append
            if self._other(len(record), flags, can_id, length):
                break
        if frames:
            handler.frames(frames)
        return count

    def _other(self, size: int, flags: int, can_id: int, length: int) -> bool:
        """A record that is no 29-bit data frame: reported. True when the other end closed (reading stops)."""
        handler = self.handler
        if size != _RECORD or flags & _TRUNCATED:
            if not size and self.eof_on_empty:
                self.stop()
                handler.fault(ConnectionResetError("the other end of the frame socket closed it"))
                return True
            handler.refused(f"a record of {size} bytes" + (" (truncated)" if flags & _TRUNCATED else "")
                            + f", not a {_RECORD}-byte can_frame"
                            + (" (a CAN FD frame)" if size == _CANFD_MTU else ""))
        elif can_id & (CAN_RTR_FLAG | CAN_ERR_FLAG):
            if can_id & CAN_ERR_FLAG:
                handler.error_frame(can_id & CAN_EFF_MASK)
            else:
                handler.refused("a remote frame (RV-C uses none)")
        elif length > 8:
            handler.refused(f"a data length of {length} (at most 8)")
        elif can_id & ~CAN_SFF_MASK:
            handler.refused(f"an 11-bit identifier 0x{can_id:X} with bits above the 11")
        else:
            handler.standard_frame()
        return False


def _batch_receiver(fd: int) -> mmsg.BatchReceiver | None:
    """Buffers for recvmmsg on `fd`; None where it cannot be used (the reader reads one record per call)."""
    if not mmsg.available():
        return None
    try:
        return mmsg.BatchReceiver(fd, BATCH_SLOTS, _CANFD_MTU)
    except (struct.error, ValueError, RuntimeError) as exc:  # an unexpected layout of the C structures
        log.warning("reading one CAN record per system call: recvmmsg cannot be set up here (%s)", exc)
        return None


def receive_queue(bus: can.BusABC) -> queue.Queue[can.Message] | None:
    """The receive queue of a python-can virtual bus, None for any other bus."""
    found = getattr(bus, "queue", None)
    return found if isinstance(found, queue.Queue) else None


class ThreadReader:
    """Reads a bus without a frame socket with python-can's recv in a thread of its own.

    Whatever is already waiting goes along with each frame: one hand-over (one wake-up of the loop)
    per burst, not per frame. A receive error ends the thread and is reported once.
    """

    def __init__(self, bus: can.BusABC, loop: asyncio.AbstractEventLoop, handler: FrameHandler,
                 name: str) -> None:
        """`name` names the thread."""
        self.bus = bus
        self.loop = loop
        self.handler = handler
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    async def stop(self) -> None:
        """Stop the thread and wait for it (a virtual bus is woken through its queue)."""
        self._stop.set()
        if (wake := receive_queue(self.bus)) is not None:
            wake.put(_WAKE)
        await asyncio.to_thread(self._thread.join, 2 * QUEUE_POLL_S + 1.0)

    def _run(self) -> None:
        bus, loop, stop = self.bus, self.loop, self._stop
        poll = QUEUE_POLL_S if receive_queue(bus) is not None else _THREAD_POLL_S
        while not stop.is_set():
            batch: list[can.Message] = []
            failure: BaseException | None = None
            try:
                message = bus.recv(poll)
                while message is not None and message is not _WAKE:
                    batch.append(message)
                    if len(batch) >= READ_BATCH:
                        break
                    message = bus.recv(0)
            except RECEIVE_ERRORS as exc:
                failure = exc
            try:
                if batch:
                    loop.call_soon_threadsafe(self._deliver, batch)
                if failure is not None:
                    if not stop.is_set():
                        loop.call_soon_threadsafe(self.handler.fault, failure)
                    return
            except RuntimeError:
                return  # the loop closed under us: nobody is left to hand frames to

    def _deliver(self, messages: list[can.Message]) -> None:
        handler = self.handler
        batch: list[StampedFrame] = []
        for message in messages:
            if self._stop.is_set():
                return
            if message.is_extended_id and not message.is_error_frame and not message.is_remote_frame:
                batch.append((message.timestamp, message.arbitration_id, bytes(message.data)))
                continue
            if batch:  # anything else is handled after the frames before it
                handler.frames(batch)
                batch = []
            if message.is_error_frame:
                handler.error_frame(message.arbitration_id)
            elif message.is_remote_frame:
                handler.refused("a remote frame (RV-C uses none)")
            else:
                handler.standard_frame()
        if batch:
            handler.frames(batch)
