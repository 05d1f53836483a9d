"""CAN logs: read candump -L files (and .asc/.blf/... through python-can), decode them, replay them.

candump lines are parsed here, one by one, so that one damaged line is reported with its number and
the rest of the file is still read (python-can's reader stops at the first bad line). Other formats go
through `can.LogReader`, chosen by the file's extension.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import can

if TYPE_CHECKING:
    from coachiq.can.interface import CanInterfaceService
    from coachiq.rvc.codec import Codec

__all__ = ["LogError", "LogFrame", "decode_log", "parse_candump_line", "read_log", "replay_log"]

# "(1700000000.000000) can0 19FEDA8E#01C5FF750549521D" — identifier of 3 (11-bit) or 8 (29-bit) digits.
_CANDUMP = re.compile(r"^\((?P<ts>\d+(?:\.\d+)?)\)\s+(?P<channel>\S+)\s+(?P<id>[0-9A-Fa-f]{3}|[0-9A-Fa-f]{8})"
                      r"#(?P<data>[0-9A-Fa-f]*)$")
# Extensions python-can's LogReader reads itself; everything else is taken as candump -L text.
_PYTHON_CAN_FORMATS = {".asc", ".blf", ".csv", ".db", ".mf4", ".trc"}
_REPLAY_YIELD_EVERY = 256
_REPLAY_BATCH_S = 0.004  # as-fast-as-possible replay still lets the loop serve others


@dataclass(frozen=True, slots=True)
class LogFrame:
    """One frame of a log."""

    timestamp: float
    channel: str
    arbitration_id: int
    data: bytes
    extended: bool = True


@dataclass(frozen=True, slots=True)
class LogError:
    """A line that is not a frame: its number (1-based, 0 when the format has none) and why."""

    line: int
    reason: str


def parse_candump_line(line: str) -> LogFrame:
    """Parse one candump -L line; ValueError says what is wrong with it."""
    text = line.strip()
    match = _CANDUMP.match(text)
    if match is None:
        if "##" in text:
            raise ValueError("CAN FD frames are not supported")
        raise ValueError(f"not a candump -L frame '(timestamp) channel ID#DATA': {text[:60]!r}")
    data_hex = match["data"]
    if len(data_hex) % 2:
        raise ValueError(f"odd number of hex digits in the payload {data_hex!r}")
    if len(data_hex) > 16:
        raise ValueError(f"payload of {len(data_hex) // 2} bytes; a classic CAN frame has at most 8")
    arbitration_id = int(match["id"], 16)
    extended = len(match["id"]) == 8
    if extended and arbitration_id >= 1 << 29:
        raise ValueError(f"identifier {match['id']} is wider than 29 bits")
    return LogFrame(float(match["ts"]), match["channel"], arbitration_id, bytes.fromhex(data_hex), extended)


def read_log(path: Path) -> Iterator[LogFrame | LogError]:
    """Every frame of the log in order, with a LogError in place of each line that is not a frame."""
    if path.suffix.lower() in _PYTHON_CAN_FORMATS:
        yield from _read_with_python_can(path)
        return
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                yield parse_candump_line(line)
            except ValueError as exc:
                yield LogError(number, str(exc))


def _read_with_python_can(path: Path) -> Iterator[LogFrame | LogError]:
    try:
        for message in can.LogReader(path):
            if message.is_error_frame or message.is_remote_frame:
                continue
            yield LogFrame(message.timestamp, str(message.channel or ""), message.arbitration_id,
                           bytes(message.data), message.is_extended_id)
    except (ValueError, OSError, can.CanError) as exc:
        # These readers cannot resume after a damaged record; report it and end the log there.
        yield LogError(0, f"{type(exc).__name__}: {exc} (the rest of the file is skipped)")


def decode_log(path: Path, codec: Codec, out: TextIO, err: TextIO) -> tuple[int, int]:
    """Print one JSON line per frame to `out` and each bad line to `err`; returns (frames, bad lines)."""
    from coachiq.rvc.codec import decoded_to_json
    from coachiq.rvc.ids import dgn_and_source

    frames = bad = 0
    for item in read_log(path):
        if isinstance(item, LogError):
            bad += 1
            where = f"line {item.line}" if item.line else "record"
            err.write(f"{path}:{item.line}: {where} skipped: {item.reason}\n")
            continue
        if not item.extended:
            bad += 1
            err.write(f"{path}: 11-bit frame 0x{item.arbitration_id:03X} skipped: RV-C uses 29-bit identifiers\n")
            continue
        dgn, _source = dgn_and_source(item.arbitration_id)
        decoded = codec.decode(dgn, item.data)
        out.write(json.dumps(decoded_to_json(decoded, item.arbitration_id, item.timestamp)) + "\n")
        frames += 1
    return frames, bad


async def replay_log(service: CanInterfaceService, path: Path, speed: float = 1.0,
                     interface: str | None = None) -> int:
    """Feed a log through the receive path as if it came from the bus; returns the frames fed.

    `speed` 1 keeps the log's timing, 2 plays twice as fast, 0 as fast as possible. Frames get the
    current time as their timestamp, so liveness and stale detection behave as on a live bus. A frame
    goes to the interface `interface`, or the one whose channel matches the log's, or the first one.
    """
    if speed < 0:
        raise ValueError(f"speed {speed} is not allowed: use 0 (as fast as possible) or more")
    by_channel = {link.settings.channel: name for name, link in service.links.items()}
    default = interface or next(iter(service.links), None)
    if default is None:
        raise ValueError("the CAN service has no interface to replay into")
    service.link(default)  # KeyError naming the interfaces when `interface` is wrong
    loop = asyncio.get_running_loop()
    started = loop.time()
    first: float | None = None
    fed = 0
    # Read as we go (a log can be larger than the Pi's memory budget); a line takes microseconds.
    for item in read_log(path):
        if isinstance(item, LogError) or not item.extended:
            continue
        if speed > 0:
            first = item.timestamp if first is None else first
            delay = started + (item.timestamp - first) / speed - loop.time()
            # Frames due within the next few milliseconds go out together, as a busy bus's frames
            # reach a socket reader in batches: one timer per frame would cost more than the frame.
            if delay > _REPLAY_BATCH_S:
                await asyncio.sleep(delay)
        elif fed % _REPLAY_YIELD_EVERY == 0:
            await asyncio.sleep(0)
        target = default if interface else by_channel.get(item.channel, default)
        service.inject(target, time.time(), item.arbitration_id, item.data)
        fed += 1
    return fed
