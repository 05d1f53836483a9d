"""Unmapped traffic: RV-C sources the coach mapping does not describe, with a mapping entry to start from.

The entity manager counts unmapped frames live (GET /api/v2/entities/unmapped); `unmapped_in_log` does
the same for a recorded CAN log, offline (`coachiq unmapped --log FILE`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from coachiq.can.ids import dgn_and_source
from coachiq.can.logs import LogError, LogFrame
from coachiq.entities.mapping import FAMILIES, CoachMapping
from coachiq.rvc.codec import Codec

# Status DGN -> (device family, entity type) a suggestion starts from: the first family that reads it.
_SUGGEST: dict[str, tuple[str, str]] = {}
for _family in FAMILIES.values():
    for _dgn in _family.status_dgns:
        _SUGGEST.setdefault(_dgn, (_family.name, _family.types[0].value))


def suggest_entry(name: str | None, instance: int | None, source_address: int) -> dict[str, Any] | None:
    """A mapping entry to start from (None when no device family reads that DGN)."""
    if name is None or name not in _SUGGEST:
        return None
    device, entity_type = _SUGGEST[name]
    suffix = f"_{instance}" if instance is not None else ""
    entry: dict[str, Any] = {"id": f"{entity_type}.{device}{suffix}",
                             "name": f"{device.replace('_', ' ').capitalize()}{suffix.replace('_', ' ')}",
                             "area": "unassigned", "device": device, "source_address": source_address}
    if instance is not None:
        entry["instance"] = instance
    return entry


def row(dgn: int, name: str | None, instance: int | None, source_address: int, count: int,
        last_values: Mapping[str, Any]) -> dict[str, Any]:
    """One unmapped (DGN, instance, source) as the API and the CLI show it."""
    values = {k: (v.hex() if isinstance(v, bytes | bytearray) else v) for k, v in last_values.items()}
    return {"dgn": dgn, "name": name, "instance": instance, "source_address": source_address, "count": count,
            "last_values": values, "suggested": suggest_entry(name, instance, source_address)}


def unmapped_in_log(frames: Iterable[LogFrame | LogError], mapping: CoachMapping, codec: Codec
                    ) -> list[dict[str, Any]]:
    """Every (DGN, instance, source) in `frames` that no entity of `mapping` reads, most frequent first."""
    mapped: dict[tuple[int, int | None], list[int | None]] = {}
    for config in mapping.entities.values():
        for name in config.status_dgns:
            dgn = codec.spec_for(name).dgn
            for instance in config.status_instances:
                mapped.setdefault((dgn, instance), []).append(config.source_address)
    seen: dict[tuple[int, int | None, int], list[Any]] = {}
    for frame in frames:
        if isinstance(frame, LogError) or not frame.extended:
            continue
        dgn, source = dgn_and_source(frame.arbitration_id)
        decoded = codec.decode(dgn, frame.data)
        sources = mapped.get((dgn, decoded.instance))
        if sources is not None and (None in sources or source in sources):
            continue
        key = (dgn, decoded.instance, source)
        entry = seen.setdefault(key, [decoded.name, 0, {}])
        entry[1] += 1
        entry[2] = decoded.values
    rows = [row(dgn, name, instance, source, count, values)
            for (dgn, instance, source), (name, count, values) in seen.items()]
    return sorted(rows, key=lambda r: -int(r["count"]))
