"""Log replay (`coachiq serve --replay`): a separate process plays the log the way a bus delivers it.

A replay stands in for the bus, so the server should pay what a bus costs it and nothing more. The
log is therefore read, parsed and paced by a child process (`python -m coachiq.can.replay`), which
writes the frames to a pipe as 16-byte binary records; the server reads the pipe like a socket and
runs each frame through the same receive path as a live interface (repeat filter, decode, entities,
hub), stamped with the time it is read, as a reader stamps what it reads.

The player hands frames over on a fixed grid of `BATCH_S` on the monotonic clock: every frame due
since the last hand-over goes in one write, like a reader finding what arrived since it last drained
its socket. A frame is never handed over before its time in the log, and at most one batch interval
after it. The grid sits half a batch off the whole seconds on which the server does its periodic
work (coachiq.core.tasks), as a real bus has no reason to coincide with them.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from coachiq.can.logs import LogError, records

if TYPE_CHECKING:
    from coachiq.can.interface import CanInterfaceService

log = logging.getLogger(__name__)

__all__ = ["BATCH_S", "RECORD", "play", "replay_log"]

# One frame: identifier, data length, channel index, padding, data (zero-padded to 8 bytes).
RECORD = struct.Struct("<IBB2x8s")
BATCH_S = 0.05  # coarser than a few ms saves a wake-up of the server per batch; RV-C repeats every 100 ms+
_FAST_CHUNK = 256  # records per write at most
_NO_CHANNEL = 0xFF


def play(path: Path, speed: float, channels: list[str], out: int, batch_s: float = BATCH_S) -> int:
    """Write the log's frames to the file descriptor `out` at `speed` (0: as fast as possible).

    `channels` are the server's channel names: a frame's channel index is its position there
    (0xFF when the log's channel is not among them). Returns the number of frames written.
    """
    index = {name: i for i, name in enumerate(channels)}
    pack = RECORD.pack
    pending = bytearray()
    started = time.monotonic()
    first: float | None = None
    written = 0
    for item in records(path):
        if isinstance(item, LogError):
            print(f"coachiq replay: {path}:{item.line}: skipped: {item.reason}", file=sys.stderr)
            continue
        timestamp, channel, arbitration_id, data, extended = item
        if not extended:
            continue  # RV-C uses 29-bit identifiers only
        if speed > 0:
            first = timestamp if first is None else first
            due = started + (timestamp - first) / speed
            if due > time.monotonic():
                _write(out, pending)
                offset = batch_s / 2
                time.sleep(max(0.0, math.ceil((due - offset) / batch_s) * batch_s + offset - time.monotonic()))
        pending += pack(arbitration_id, len(data), index.get(channel, _NO_CHANNEL), data)
        written += 1
        if len(pending) >= _FAST_CHUNK * RECORD.size:  # as fast as possible, or behind the log's pace
            _write(out, pending)
    _write(out, pending)
    return written


def _write(out: int, pending: bytearray) -> None:
    view = memoryview(pending)
    while view:
        view = view[os.write(out, view):]
    view.release()
    pending.clear()


async def replay_log(service: CanInterfaceService, path: Path, speed: float = 1.0,
                     interface: str | None = None) -> int:
    """Play a log through the receive path from a player process; returns the frames received.

    `speed` 1 keeps the log's timing, 2 plays twice as fast, 0 as fast as possible. Frames get the
    time they are read as their timestamp, so liveness and stale detection behave as on a live bus.
    A frame goes to the interface `interface`, or the one whose channel matches the log's, or the
    first one.
    """
    if speed < 0:
        raise ValueError(f"speed {speed} is not allowed: use 0 (as fast as possible) or more")
    names = list(service.links)
    if not names:
        raise ValueError("the CAN service has no interface to replay into")
    if interface is not None:
        service.link(interface)  # KeyError naming the interfaces when `interface` is wrong
    targets = [interface or name for name in names]
    default = interface or names[0]
    player = subprocess.Popen(
        [sys.executable, "-m", "coachiq.can.replay", str(path), "--speed", repr(speed),
         "--channels", ",".join(service.links[name].settings.channel for name in names)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
    assert player.stdout is not None
    fd = player.stdout.fileno()
    os.set_blocking(fd, False)
    loop = asyncio.get_running_loop()
    ended: asyncio.Future[None] = loop.create_future()
    received = 0
    buffer = bytearray()

    def readable() -> None:
        nonlocal received
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return
        if not chunk:
            loop.remove_reader(fd)
            if not ended.done():
                ended.set_result(None)
            return
        buffer.extend(chunk)
        usable = len(buffer) - len(buffer) % RECORD.size
        if not usable:
            return
        block = bytes(buffer[:usable])
        del buffer[:usable]
        stamp = time.time()
        batches: dict[str, list[tuple[int, bytes]]] = {}
        for arbitration_id, length, channel, data in RECORD.iter_unpack(block):
            target = targets[channel] if channel < len(targets) else default
            frames = batches.get(target)
            if frames is None:
                frames = batches[target] = []
            frames.append((arbitration_id, data if length == 8 else data[:length]))
        for target, frames in batches.items():
            service.inject_batch(target, stamp, frames)
            received += len(frames)

    loop.add_reader(fd, readable)
    try:
        await ended
    finally:
        loop.remove_reader(fd)
        if player.poll() is None:
            player.terminate()
        status = await asyncio.to_thread(player.wait, 5)
        player.stdout.close()
    if status != 0:
        log.warning("the replay player for %s ended with status %s", path, status)
    return received


def main(argv: list[str] | None = None) -> int:
    """The player process: `python -m coachiq.can.replay LOG --speed S --channels a,b`."""
    parser = argparse.ArgumentParser(prog="python -m coachiq.can.replay",
                                     description="Write a CAN log's frames to stdout as binary records.")
    parser.add_argument("log", type=Path)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--channels", default="")
    args = parser.parse_args(argv)
    if args.speed < 0:
        parser.error("--speed must be 0 (as fast as possible) or more")
    try:
        play(args.log, args.speed, [c for c in args.channels.split(",") if c], sys.stdout.fileno())
    except (BrokenPipeError, KeyboardInterrupt):
        return 0  # the server stopped reading, or the player was interrupted with it
    except OSError as exc:
        print(f"coachiq replay: {args.log}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
