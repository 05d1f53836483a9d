"""The `fd` CAN interface: SocketCAN's frame records over a socket the server inherits, for tests and benchmarks.

`{"interface": "fd", "channel": "5"}` makes file descriptor 5, one end of an AF_UNIX datagram (or
sequenced-packet) socket pair, the bus: each datagram is one 16-byte `struct can_frame`, exactly as a
SocketCAN raw socket delivers frames on the Pi, and frames the server sends go out the same socket in
the same layout. The server reads it with the reader that reads SocketCAN (coachiq/can/reader.py), so
a process on the other end (coachiq/bench/feed.py) stands in for the bus and the kernel's CAN driver,
which this machine may not have. It is registered with python-can as an interface plug-in
(pyproject.toml), so the bus is opened like any other with `can.Bus(interface="fd", channel=...)`.
"""

from __future__ import annotations

import os
import select
import socket
import time
from typing import Any

import can

from coachiq.can.reader import CAN_EFF_FLAG, CAN_EFF_MASK, CAN_ERR_FLAG, CAN_FRAME, CAN_RTR_FLAG, pack_frame

__all__ = ["FrameSocketBus"]


class FrameSocketBus(can.BusABC):
    """A python-can bus on an inherited datagram socket carrying `can_frame` records."""

    def __init__(self, channel: Any, **kwargs: Any) -> None:
        """`channel`: the file descriptor number of the socket (a string or an int).

        The descriptor is duplicated: closing the bus closes the copy, so the interface can be opened
        again on the same descriptor after a fault.
        """
        try:
            descriptor = int(channel)
        except (TypeError, ValueError):
            raise can.CanInitializationError(
                f"the fd interface takes a file descriptor number as its channel, got {channel!r}") from None
        try:
            self.socket = socket.socket(fileno=os.dup(descriptor))
        except OSError as exc:
            raise can.CanInitializationError(f"file descriptor {descriptor} is no open socket: {exc}") from exc
        if self.socket.family != socket.AF_UNIX or self.socket.type not in (socket.SOCK_DGRAM,
                                                                            socket.SOCK_SEQPACKET):
            self.socket.close()
            raise can.CanInitializationError(
                f"file descriptor {descriptor} is not an AF_UNIX datagram or sequenced-packet socket")
        self.channel_info = f"can_frame records on file descriptor {descriptor}"
        kwargs.pop("bitrate", None)
        super().__init__(channel=channel, **kwargs)

    def fileno(self) -> int:
        """The socket's descriptor (the server reads it with coachiq.can.reader.SocketReader)."""
        return self.socket.fileno()

    def send(self, msg: can.Message, timeout: float | None = None) -> None:
        """Send one frame as a `can_frame` record; CanOperationError if the socket stays full."""
        if msg.is_error_frame or msg.is_remote_frame or msg.is_fd:
            raise can.CanOperationError("the fd interface sends classic data frames only")
        record = pack_frame(msg.arbitration_id, bytes(msg.data), msg.is_extended_id)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                self.socket.send(record, socket.MSG_DONTWAIT)
                return
            except BlockingIOError:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise can.CanOperationError("the frame socket is full: the frame was not sent") from None
                select.select([], [self.socket], [], left)
            except OSError as exc:
                raise can.CanOperationError(f"sending on the frame socket failed: {exc}") from exc

    def _recv_internal(self, timeout: float | None) -> tuple[can.Message | None, bool]:
        ready, _, _ = select.select([self.socket], [], [], timeout)
        if not ready:
            return None, False
        try:
            record = self.socket.recv(72, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return None, False
        except OSError as exc:
            raise can.CanOperationError(f"receiving on the frame socket failed: {exc}") from exc
        if len(record) != CAN_FRAME.size:
            raise can.CanOperationError(f"a record of {len(record)} bytes is not a can_frame")
        can_id, length, data = CAN_FRAME.unpack(record)
        extended = bool(can_id & CAN_EFF_FLAG)
        message = can.Message(timestamp=time.time(), arbitration_id=can_id & (CAN_EFF_MASK if extended else 0x7FF),
                              is_extended_id=extended, is_remote_frame=bool(can_id & CAN_RTR_FLAG),
                              is_error_frame=bool(can_id & CAN_ERR_FLAG), dlc=min(length, 8),
                              data=data[:min(length, 8)])
        return message, False

    def shutdown(self) -> None:
        """Close the duplicated descriptor."""
        super().shutdown()
        self.socket.close()
