"""Many datagrams per system call: Linux's recvmmsg(2) over a frame socket, through ctypes.

Python's socket module reads one datagram per call, and on a busy bus that call is most of what reading
costs: about 1,900 `can_frame` records a second per bus, each with its receive time stamp as ancillary
data. `BatchReceiver` asks the kernel for every record waiting in one call and reads the records, their
lengths, flags and time stamps out of fixed buffers with `struct`, allocating only what it hands on.

Where recvmmsg is missing (not Linux, no C library found) `available()` is False and the reader keeps to
`socket.recvmsg`, one record per call.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import socket
import struct
import sys
from typing import Any

__all__ = ["BatchReceiver", "Received", "available"]

Received = tuple[int, int, int, int, bytes, int, int]
"""(record length, message flags, then as a `can_frame`: identifier with flags, data length, 8 data
bytes; then the time stamp: seconds, nanoseconds, seconds -1 when the kernel gave none). The
`can_frame` fields mean something only when the record length is that of a `can_frame`."""

_SCM_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # the control message carries the option's number
_SOL_SOCKET = socket.SOL_SOCKET
_DONTWAIT = int(socket.MSG_DONTWAIT)  # a plain int: the socket module's flags are an IntFlag


class _IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("length", ctypes.c_size_t)]


class _MsgHdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32), ("iov", ctypes.POINTER(_IoVec)),
                ("iovlen", ctypes.c_size_t), ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]


class _MMsgHdr(ctypes.Structure):
    _fields_ = [("hdr", _MsgHdr), ("length", ctypes.c_uint)]


def _load() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        function = libc.recvmmsg
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p]
    function.restype = ctypes.c_int
    return function


_RECVMMSG = _load()


def available() -> bool:
    """True when recvmmsg can be called here."""
    return _RECVMMSG is not None


class BatchReceiver:
    """Fixed buffers for up to `slots` datagrams of up to `record_size` bytes each, read with one call."""

    def __init__(self, fd: int, slots: int, record_size: int) -> None:
        """`fd`: a datagram socket with SO_TIMESTAMPNS on. RuntimeError when recvmmsg is not available."""
        if _RECVMMSG is None:
            raise RuntimeError("recvmmsg is not available on this system")
        self.fd = fd
        self.slots = slots
        control_size = socket.CMSG_SPACE(16)  # one struct timespec
        header_size = socket.CMSG_LEN(0)  # struct cmsghdr, padded: where the time stamp starts
        self._records = ctypes.create_string_buffer(slots * record_size)
        self._control = ctypes.create_string_buffer(slots * control_size)
        self._vectors = (_IoVec * slots)()
        self._messages = (_MMsgHdr * slots)()
        records, control = ctypes.addressof(self._records), ctypes.addressof(self._control)
        for index in range(slots):
            self._vectors[index].base = records + index * record_size
            self._vectors[index].length = record_size
            header = self._messages[index].hdr
            header.iov = ctypes.pointer(self._vectors[index])
            header.iovlen = 1
            header.control = control + index * control_size
        self._control_size = control_size
        self._address = ctypes.addressof(self._messages)
        message_size = ctypes.sizeof(_MMsgHdr)
        self._message_size = message_size
        # Out of each message header: the control length, the flags and the record length.
        controllen_at = _MsgHdr.controllen.offset
        flags_at = _MsgHdr.flags.offset
        length_at = _MMsgHdr.length.offset
        size_t = "Q" if ctypes.sizeof(ctypes.c_size_t) == 8 else "I"
        self._header = struct.Struct(f"={controllen_at}x{size_t}{flags_at - controllen_at - struct.calcsize(size_t)}x"
                                     f"i{length_at - flags_at - 4}xI{message_size - length_at - 4}x")
        self._record = struct.Struct(f"@IB3x8s{record_size - 16}x")  # struct can_frame, then the slot's rest
        # struct cmsghdr (length, level, type), padded to CMSG_LEN(0); then struct timespec (two longs).
        long = "q" if ctypes.sizeof(ctypes.c_long) == 8 else "i"
        self._stamp = struct.Struct(f"={size_t}ii{header_size - struct.calcsize(size_t) - 8}x"
                                    f"{long}{long}{control_size - header_size - 2 * struct.calcsize(long)}x")
        self._headers_view = memoryview(self._messages).cast("B")
        self._records_view = memoryview(self._records).cast("B")
        self._control_view = memoryview(self._control).cast("B")
        self._record_size = record_size
        for index in range(slots):
            self._messages[index].hdr.controllen = control_size
        # The kernel writes each used header's lengths and flags: one copy of these bytes restores them.
        self._pristine = bytes(self._headers_view)

    def receive(self, limit: int) -> list[Received]:
        """The datagrams waiting, at most `limit` (and at most `slots`); [] when none is. OSError on failure."""
        count = _RECVMMSG(self.fd, self._address, min(limit, self.slots), _DONTWAIT, None)
        if count < 0:
            error = ctypes.get_errno()
            if error in (11, 4):  # EAGAIN/EWOULDBLOCK, EINTR: nothing (more) waiting now
                return []
            raise OSError(error, os.strerror(error))
        headers = self._header.iter_unpack(self._headers_view[:count * self._message_size])
        records = self._record.iter_unpack(self._records_view[:count * self._record_size])
        stamps = self._stamp.iter_unpack(self._control_view[:count * self._control_size])
        found = [(length, flags, can_id, dlc, data,
                  seconds if control_length and level == _SOL_SOCKET and kind == _SCM_TIMESTAMPNS else -1,
                  nanoseconds)
                 for (control_length, flags, length), (can_id, dlc, data), (_cmsg, level, kind, seconds, nanoseconds)
                 in zip(headers, records, stamps, strict=True)]
        used = count * self._message_size
        self._headers_view[:used] = self._pristine[:used]
        return found
