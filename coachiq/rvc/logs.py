"""Decode a CAN log with the RV-C codec: one JSON line per frame (`coachiq decode`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TextIO

from coachiq.can.ids import dgn_and_source
from coachiq.can.logs import LogError, read_log
from coachiq.rvc.codec import Codec, decoded_to_json

__all__ = ["decode_log"]


def decode_log(path: Path, codec: Codec, out: TextIO, err: TextIO) -> tuple[int, int]:
    """Print one JSON line per frame to `out` and each bad line to `err`; returns (frames, bad lines)."""
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
