"""CAN logs: read candump -L files (and .asc/.blf/... through python-can).

candump lines are parsed here, one by one, so that one damaged line is reported with its number and
the rest of the file is still read (python-can's reader stops at the first bad line). A line whose
part after the timestamp was seen before reuses that parse: RV-C nodes repeat their status, so most
lines do. Other formats go through `can.LogReader`, chosen by the file's extension. Replaying a log
into the server is coachiq.can.replay; decoding one is coachiq.rvc.logs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import can

__all__ = ["LogError", "LogFrame", "parse_candump_line", "read_log", "records"]

# "(1700000000.000000) can0 19FEDA8E#01C5FF750549521D" — identifier of 3 (11-bit) or 8 (29-bit) digits.
_CANDUMP = re.compile(r"^\((?P<ts>\d+(?:\.\d+)?)\)\s+(?P<channel>\S+)\s+(?P<id>[0-9A-Fa-f]{3}|[0-9A-Fa-f]{8})"
                      r"#(?P<data>[0-9A-Fa-f]*)$")
# Extensions python-can's LogReader reads itself; everything else is taken as candump -L text.
_PYTHON_CAN_FORMATS = {".asc", ".blf", ".csv", ".db", ".mf4", ".trc"}
_PARSED_LINES_MAX = 8192  # remembered line tails; a log of ever-new payloads cannot grow memory


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
    for item in _read_candump(path):
        yield item if isinstance(item, LogError) else LogFrame(*item)


_Record = tuple[float, str, int, bytes, bool]


def _read_candump(path: Path) -> Iterator[_Record | LogError]:
    """The frames of a candump -L file as (timestamp, channel, id, data, extended), LogError for bad lines."""
    # The part after "(timestamp)" decides everything but the time; repeated status lines share it.
    tails: dict[str, tuple[str, int, bytes, bool]] = {}
    with path.open(encoding="utf-8", errors="replace") as lines:
        for number, line in enumerate(lines, 1):
            text = line.strip()
            close = text.find(")")
            if close > 1 and text[0] == "(":
                known = tails.get(text[close + 1:])
                stamp = text[1:close]
                # The same digits-and-one-dot check the line pattern makes, without running it.
                if known is not None and stamp.isascii() and stamp.replace(".", "", 1).isdigit() \
                        and stamp[0] != "." and stamp[-1] != ".":
                    yield (float(stamp), *known)
                    continue
            if not text or text.startswith("#"):
                continue
            try:
                frame = parse_candump_line(text)
            except ValueError as exc:
                yield LogError(number, str(exc))
                continue
            if len(tails) >= _PARSED_LINES_MAX:
                tails.clear()
            tails[text[close + 1:]] = (frame.channel, frame.arbitration_id, frame.data, frame.extended)
            yield (frame.timestamp, frame.channel, frame.arbitration_id, frame.data, frame.extended)


def records(path: Path) -> Iterator[_Record | LogError]:
    if path.suffix.lower() in _PYTHON_CAN_FORMATS:
        for item in _read_with_python_can(path):
            yield item if isinstance(item, LogError) else \
                (item.timestamp, item.channel, item.arbitration_id, item.data, item.extended)
        return
    yield from _read_candump(path)


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
