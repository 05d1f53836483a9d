"""The life of a trouble code: active -> previously active -> cleared, with first/last seen and count.

Pure state, no I/O and no clock of its own: the feature hands in observations with their times and
asks for a sweep now and then. Every change comes back as the changed records, for persistence,
alerts and the WebSocket event.

When is a code no longer active? RV-C 3.2.5.9 (note 2) asks a diagnostic device to use timers:
- a DM_RV with both lamps off for a DSA ends every active code of that node and DSA at once;
- otherwise a code not seen for `inactive_after_s` ends. Nodes repeat each active DM_RV at least every
  5 s (3.2.5.10), so the default of 15 s is three missed repeats.
The receive path drops payloads identical to the previous one on the same CAN identifier before
decoding, so a node repeating a single code is seen only once; the caller passes the time the
identifier was last heard (repeats included) and the tracker credits it to the code whose payload that
identifier carried last.

A J1939 DM1 lists every active code at once: codes missing from it end at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from coachiq.features.diagnostics.codes import Dm1Report, FaultReport, Protocol

__all__ = ["CodeKey", "CodeRecord", "CodeStatus", "Tracker"]

MAX_CODES = 2000  # records kept; beyond it the oldest cleared (then inactive) ones are forgotten


class CodeStatus(StrEnum):
    """Where a code is in its life."""

    ACTIVE = "active"
    PREVIOUSLY_ACTIVE = "previously_active"
    CLEARED = "cleared"


@dataclass(frozen=True, slots=True, order=True)
class CodeKey:
    """What makes a code the same code: protocol, node, device type (DSA), SPN and FMI."""

    protocol: Protocol
    source_address: int
    dsa: int | None
    spn: int
    fmi: int

    def text(self) -> str:
        """A stable string id: "rvc:0x54:84:2078:5"."""
        dsa = "-" if self.dsa is None else str(self.dsa)
        return f"{self.protocol.value}:0x{self.source_address:02X}:{dsa}:{self.spn}:{self.fmi}"


@dataclass(slots=True)
class CodeRecord:
    """One code's history; `count` is how many times it became active."""

    key: CodeKey
    status: CodeStatus
    first_seen: float
    last_seen: float
    count: int = 1
    occurrence_count: int | None = None
    red_lamp: bool = False
    yellow_lamp: bool = False
    interface: str = ""
    cleared_at: float | None = None
    lamps: dict[str, bool] = field(default_factory=dict)

    def snapshot(self) -> dict[str, Any]:
        """Plain values (for the database and the API)."""
        return {"id": self.key.text(), "protocol": self.key.protocol.value, "source_address": self.key.source_address,
                "dsa": self.key.dsa, "spn": self.key.spn, "fmi": self.key.fmi, "status": self.status.value,
                "first_seen": self.first_seen, "last_seen": self.last_seen, "count": self.count,
                "occurrence_count": self.occurrence_count, "red_lamp": self.red_lamp,
                "yellow_lamp": self.yellow_lamp, "interface": self.interface, "cleared_at": self.cleared_at,
                "lamps": dict(self.lamps)}


LastHeard = Callable[[int], float | None]


class Tracker:
    """All known codes, keyed by CodeKey."""

    def __init__(self, inactive_after_s: float = 15.0, max_codes: int = MAX_CODES) -> None:
        """`inactive_after_s`: how long an RV-C code may go unseen before it is no longer active."""
        if inactive_after_s <= 0:
            raise ValueError("inactive_after_s must be above 0")
        self.inactive_after_s = inactive_after_s
        self.max_codes = max_codes
        self.codes: dict[CodeKey, CodeRecord] = {}
        # CAN identifier -> the code its last decoded DM_RV carried (repeats of it count for that code).
        self._carried: dict[int, CodeKey] = {}
        self.refused = 0  # new codes not tracked because max_codes were all active
        self.forgotten: list[CodeKey] = []  # records dropped to make room, for the store to delete

    def load(self, records: Iterable[CodeRecord]) -> None:
        """Take records from the database. Codes active at shutdown stay active until the sweep
        finds them unseen (their node may still be reporting them), so nothing is lost over a restart."""
        for record in records:
            self.codes[record.key] = record

    def active(self) -> list[CodeRecord]:
        """The codes active now."""
        return [r for r in self.codes.values() if r.status is CodeStatus.ACTIVE]

    # --- observations ---------------------------------------------------------------------------

    def observe_dm_rv(self, source_address: int, can_id: int, report: FaultReport, now: float,
                      interface: str = "") -> list[CodeRecord]:
        """One decoded DM_RV from `source_address` at `now`; returns the records that changed state."""
        if not report.active:
            self._carried.pop(can_id, None)
            return [self._end(r, now) for r in self.active()
                    if r.key.protocol is Protocol.RVC and r.key.source_address == source_address
                    and r.key.dsa == report.dsa]
        key = CodeKey(Protocol.RVC, source_address, report.dsa, report.spn, report.fmi)
        seen = self._see(key, now, interface)
        if seen is None:
            return []
        record, became_active = seen
        self._carried[can_id] = key
        record.occurrence_count = report.occurrence_count
        record.red_lamp = report.red_lamp
        record.yellow_lamp = report.yellow_lamp
        return [record] if became_active else []

    def observe_dm1(self, report: Dm1Report) -> list[CodeRecord]:
        """A whole DM1: its codes are active, the node's other active J1939 codes have ended."""
        now = report.timestamp
        changed: list[CodeRecord] = []
        seen: set[CodeKey] = set()
        for code in report.codes:
            key = CodeKey(Protocol.J1939, report.source_address, None, code.spn, code.fmi)
            seen.add(key)
            found = self._see(key, now, report.interface)
            if found is None:
                continue
            record, became_active = found
            record.occurrence_count = code.occurrence_count
            record.lamps = dict(report.lamps)
            record.red_lamp = bool(report.lamps.get("red_stop"))
            record.yellow_lamp = bool(report.lamps.get("amber_warning"))
            if became_active:
                changed.append(record)
        for record in self.active():
            if (record.key.protocol is Protocol.J1939 and record.key.source_address == report.source_address
                    and record.key not in seen):
                changed.append(self._end(record, now))
        return changed

    def sweep(self, now: float, last_heard: LastHeard) -> list[CodeRecord]:
        """End the RV-C codes not seen for `inactive_after_s`; `last_heard(can_id)` gives the time a
        CAN identifier was last heard, repeats included (None: never)."""
        for can_id, key in self._carried.items():
            heard = last_heard(can_id)
            record = self.codes.get(key)
            if heard is not None and record is not None and heard > record.last_seen:
                record.last_seen = heard
        changed = []
        for record in self.active():
            if record.key.protocol is Protocol.RVC and now - record.last_seen > self.inactive_after_s:
                changed.append(self._end(record, now))
        return changed

    def clear_history(self, now: float) -> list[CodeRecord]:
        """Mark every previously active code cleared (active codes stay: the node still reports them)."""
        changed = []
        for record in self.codes.values():
            if record.status is CodeStatus.PREVIOUSLY_ACTIVE:
                record.status = CodeStatus.CLEARED
                record.cleared_at = now
                changed.append(record)
        return changed

    # --- transitions ----------------------------------------------------------------------------

    def _see(self, key: CodeKey, now: float, interface: str) -> tuple[CodeRecord, bool] | None:
        """The record of `key` seen at `now`, and whether it just became active; None when full."""
        record = self.codes.get(key)
        if record is None:
            if not self._make_room():
                self.refused += 1
                return None
            record = CodeRecord(key, CodeStatus.ACTIVE, now, now, interface=interface)
            self.codes[key] = record
            return record, True
        became_active = record.status is not CodeStatus.ACTIVE
        if became_active:
            record.status = CodeStatus.ACTIVE
            record.count += 1
            record.cleared_at = None
        record.last_seen = max(record.last_seen, now)
        record.interface = interface or record.interface
        return record, became_active

    def _end(self, record: CodeRecord, now: float) -> CodeRecord:
        record.status = CodeStatus.PREVIOUSLY_ACTIVE
        for can_id in [c for c, k in self._carried.items() if k == record.key]:
            del self._carried[can_id]
        return record

    def _make_room(self) -> bool:
        """Forget the oldest cleared (else inactive) code when full; False when every code is active."""
        if len(self.codes) < self.max_codes:
            return True
        for status in (CodeStatus.CLEARED, CodeStatus.PREVIOUSLY_ACTIVE):
            candidates = [r for r in self.codes.values() if r.status is status]
            if candidates:
                oldest = min(candidates, key=lambda r: r.last_seen)
                del self.codes[oldest.key]
                self.forgotten.append(oldest.key)
                return True
        return False
