"""The bus as SocketCAN hands it to a server: one `can_frame` datagram per frame, when the frame comes.

This machine has no SocketCAN, so a benchmark or test stands in for the bus and the kernel's CAN
driver: `Feed` makes an AF_UNIX datagram socket pair, the server gets one end as its `fd` interface
(coachiq/can/fdbus.py; read by the same reader as a SocketCAN socket) and the other end stays here.

    feed = Feed()
    process, base, _ready = start_server(data, feed.env(), pass_fds=[feed.server_fd])
    feed.started()                      # the server holds its end now
    feed.send(0x19FEDA8E, payload)      # one frame now; returns the time it was sent
    feed.receive(1.0)                   # frames the server sent, as (time, identifier, payload)
    player = feed.play(log)             # a candump log at its own pace, from a separate process
    result = player.wait()              # PlayResult: when each frame was sent, what the server sent
    feed.close()

The player is a process of its own (`python -m coachiq.bench.feed`) so that its pacing neither
competes for the interpreter with the clients a benchmark runs nor is delayed by them. It sends each
frame of the log at the log's own time offset (no grid, no batching) without blocking: a frame that
finds the server's socket buffer full is dropped and counted, as the kernel drops frames a reader does
not take. The player runs with real-time priority where it may (SCHED_FIFO, as the kernel's CAN
driver runs ahead of ordinary processes), so that a machine busy with other work delays it little. A
frame it could not send in time goes out late, and the frames after it no faster than a bus carries
them (1,900 frames/s), never in a burst; the lateness is reported (behind_ms_max, stalls). Each
frame's send time is taken with `time.time()` just before it is sent; the kernel stamps the datagram
at the same moment, and the server's reader takes that stamp as the frame's time, as on SocketCAN.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from coachiq.bench.common import Frame, read_frames
from coachiq.can.reader import CAN_EFF_FLAG, CAN_EFF_MASK, CAN_FRAME, pack_frame

__all__ = ["Feed", "PlayResult", "Player", "Sent"]

Sent = tuple[float, int, bytes]
"""(time the frame was sent, 29-bit identifier, payload)."""

_SENT = struct.Struct("<dIB8s")  # time, identifier, length, payload: the player's record of one frame
_SOCKET_BUFFER = 1 << 20  # what the player's own end may hold of the server's frames while it paces
_STALL_S = 0.002
_BUS_GAP_S = 1 / 1900  # a 250 kbit/s bus carries at most about 1,900 frames/s (8-byte, 29-bit frames)


@dataclass
class PlayResult:
    """What a player did: every frame it sent, those it dropped, what the server sent back."""

    sent: list[Sent] = field(default_factory=list)
    dropped: list[Sent] = field(default_factory=list)  # the server's socket buffer was full
    transmitted: list[Sent] = field(default_factory=list)  # (time received, identifier, payload)
    behind_ms_max: float = 0.0  # the latest a frame went out against its time in the log
    stalls: int = 0  # how often a frame went out more than _STALL_S late
    realtime: bool = False  # the player ran with real-time priority (as a CAN driver in the kernel)

    @property
    def seconds(self) -> float:
        """From the first to the last frame sent."""
        return self.sent[-1][0] - self.sent[0][0] if len(self.sent) > 1 else 0.0


class Feed:
    """One bus: the server's end of a socket pair to hand over, and this end to send and receive on."""

    def __init__(self, kind: socket.SocketKind = socket.SOCK_DGRAM) -> None:
        """`kind`: SOCK_DGRAM as SocketCAN (the default), or SOCK_SEQPACKET (the server sees the end)."""
        self.ours, self.theirs = socket.socketpair(socket.AF_UNIX, kind)
        self.ours.setblocking(False)
        self.ours.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _SOCKET_BUFFER)
        self.server_fd = self.theirs.fileno()

    def env(self, name: str = "house", drain_ms: float | None = None) -> dict[str, str]:
        """The server's environment for one interface `name` on this feed (COACHIQ_CAN_INTERFACES)."""
        interface: dict[str, object] = {"name": name, "interface": "fd", "channel": str(self.server_fd)}
        if drain_ms is not None:
            interface["drain_ms"] = drain_ms
        return {"COACHIQ_CAN_INTERFACES": json.dumps([interface])}

    def settings(self, name: str = "house", drain_ms: float | None = None) -> dict[str, object]:
        """The same interface as a settings mapping (for a server run in this process)."""
        found: dict[str, object] = json.loads(self.env(name, drain_ms)["COACHIQ_CAN_INTERFACES"])[0]
        return found

    def started(self) -> None:
        """Close the server's end here once a server process holds its own copy."""
        self.theirs.close()

    def send(self, arbitration_id: int, data: bytes, extended: bool = True) -> float:
        """Send one data frame now; returns the time it was sent. BlockingIOError: the buffer is full."""
        return self.send_record(pack_frame(arbitration_id, data, extended))

    def send_record(self, record: bytes) -> float:
        """Send one datagram as it is (any bytes: tests send malformed records); returns when."""
        now = time.time()
        self.ours.send(record)
        return now

    def receive(self, timeout: float = 0.0) -> list[Sent]:
        """Frames the server sent, waiting up to `timeout` s for the first: (time, identifier, payload)."""
        found: list[Sent] = []
        deadline = time.monotonic() + timeout
        while True:
            _drain(self.ours, found)
            if found or time.monotonic() >= deadline:
                return found
            time.sleep(0.002)

    def play(self, log: Path | Sequence[Frame], seconds: float | None = None, speed: float = 1.0) -> Player:
        """Start a player process sending `log` (a candump file or frames) at its own pace.

        `seconds`: stop after this long (the log is started again from its beginning if it is shorter).
        Frames the server sends meanwhile are collected by the player, not by `receive`.
        """
        return Player(self, log, seconds, speed)

    def close(self) -> None:
        """Close both ends held here."""
        self.ours.close()
        self.theirs.close()


class Player:
    """A running player process; `wait()` or `stop()` gives its PlayResult."""

    def __init__(self, feed: Feed, log: Path | Sequence[Frame], seconds: float | None, speed: float) -> None:
        """Start the process (see Feed.play)."""
        self._folder = tempfile.TemporaryDirectory(prefix="coachiq-feed-")
        folder = Path(self._folder.name)
        if not isinstance(log, Path):
            from coachiq.bench.common import write_log

            log = write_log(folder / "frames.log", log)
        self.out = folder / "played"
        args = [sys.executable, "-m", "coachiq.bench.feed", "--fd", str(feed.ours.fileno()), "--log", str(log),
                "--out", str(self.out), "--speed", str(speed)]
        if seconds is not None:
            args += ["--seconds", str(seconds)]
        self.process = subprocess.Popen(args, pass_fds=[feed.ours.fileno()])

    def wait(self, timeout: float | None = None) -> PlayResult:
        """Wait for the player to finish; its result."""
        self.process.wait(timeout)
        return self._result()

    def stop(self) -> PlayResult:
        """Stop the player now; its result so far."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(10)
        return self._result()

    def _result(self) -> PlayResult:
        if self.process.returncode != 0:
            raise RuntimeError(f"the frame player exited with status {self.process.returncode}")
        try:
            return _load(self.out)
        finally:
            self._folder.cleanup()


def _drain(sock: socket.socket, into: list[Sent]) -> None:
    while True:
        try:
            record = sock.recv(72)
        except (BlockingIOError, InterruptedError):
            return
        now = time.time()
        if len(record) == CAN_FRAME.size:
            can_id, length, data = CAN_FRAME.unpack(record)
            if can_id & CAN_EFF_FLAG:
                into.append((now, can_id & CAN_EFF_MASK, data[:min(length, 8)]))


def _run(fd: int, log: Path, out: Path, seconds: float | None, speed: float) -> int:
    frames = read_frames(log)
    if not frames:
        raise SystemExit(f"{log}: no frames")
    sock = socket.socket(fileno=fd)
    sock.setblocking(False)
    records = [(offset, can_id, data, pack_frame(can_id, data)) for offset, can_id, data in frames]
    first = records[0][0]
    span = records[-1][0] - first + (records[-1][0] - records[-2][0] if len(records) > 1 else 0.001)
    result = PlayResult()
    stopping = [False]

    def on_term(_signum: int, _frame: object) -> None:
        stopping[0] = True

    signal.signal(signal.SIGTERM, on_term)
    result.realtime = _bus_priority()
    send, sleep, clock, now_wall = sock.send, time.sleep, time.monotonic, time.time
    sent, dropped = result.sent, result.dropped
    started = clock()
    end = None if seconds is None else started + seconds
    behind = 0.0
    lap = 0
    earliest = 0.0
    while not stopping[0]:
        for offset, can_id, data, record in records:
            due = started + (lap * span + offset - first) / speed
            wait = max(due, earliest) - clock()
            if wait > 0:
                sleep(wait)
            late = clock() - due
            if late > _STALL_S:
                behind = max(behind, late)
                result.stalls += 1
            if stopping[0] or (end is not None and due >= end):
                stopping[0] = True
                break
            earliest = clock() + _BUS_GAP_S  # a bus carries no more than this: no burst after a stall
            when = now_wall()
            try:
                send(record)
                sent.append((when, can_id, data))
            except BlockingIOError:
                dropped.append((when, can_id, data))
            if len(sent) % 64 == 0:
                _drain(sock, result.transmitted)
        lap += 1
        if seconds is None:
            break
    _drain(sock, result.transmitted)
    result.behind_ms_max = behind * 1000
    _save(out, result)
    return 0


def _bus_priority() -> bool:
    """Run the player as the kernel runs a CAN driver: before ordinary processes (SCHED_FIFO, lowest
    priority); it sleeps between frames, so it takes little. True if granted (else it stays ordinary)."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    except (OSError, AttributeError):
        return False
    return True


def _save(path: Path, result: PlayResult) -> None:
    pack = _SENT.pack
    with path.open("wb") as out:
        out.write(struct.pack("<dIIIII", result.behind_ms_max, result.stalls, result.realtime, len(result.sent),
                              len(result.dropped), len(result.transmitted)))
        for rows in (result.sent, result.dropped, result.transmitted):
            out.write(b"".join(pack(when, can_id, len(data), data) for when, can_id, data in rows))


def _load(path: Path) -> PlayResult:
    blob = path.read_bytes()
    head = struct.Struct("<dIIIII")
    behind, stalls, realtime, *counts = head.unpack_from(blob)
    offset = head.size
    rows: list[list[Sent]] = []
    for count in counts:
        found = []
        for when, can_id, length, data in _SENT.iter_unpack(blob[offset:offset + count * _SENT.size]):
            found.append((when, can_id, data[:length]))
        rows.append(found)
        offset += count * _SENT.size
    return PlayResult(sent=rows[0], dropped=rows[1], transmitted=rows[2], behind_ms_max=behind, stalls=stalls,
                      realtime=bool(realtime))


def main(argv: list[str] | None = None) -> int:
    """`python -m coachiq.bench.feed --fd N --log LOG --out FILE`: play a log onto a frame socket."""
    parser = argparse.ArgumentParser(prog="python -m coachiq.bench.feed", description=main.__doc__)
    parser.add_argument("--fd", type=int, required=True, help="the socket to send on (inherited)")
    parser.add_argument("--log", type=Path, required=True, help="candump -L log")
    parser.add_argument("--out", type=Path, required=True, help="where to write what was sent")
    parser.add_argument("--seconds", type=float, default=None, help="stop after this long (repeat the log)")
    parser.add_argument("--speed", type=float, default=1.0)
    args = parser.parse_args(argv)
    if args.speed <= 0:
        parser.error("--speed must be above 0")
    return _run(args.fd, args.log, args.out, args.seconds, args.speed)


if __name__ == "__main__":
    sys.exit(main())
