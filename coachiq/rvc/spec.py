"""The DGN database as data: what the YAML files in coachiq/rvc/dgns/ define, validated.

Plain frozen dataclasses and an index; nothing here reads files or compiles decoders. Loading and
validation are coachiq/rvc/spec_load.py and spec_validate.py; the codec (coachiq/rvc/codec.py)
compiles the database into decoders. The format is described in docs/dgn-format.md.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Broadcast", "DgnSpec", "FieldSpec", "FieldType", "Kind", "Sample", "SpecDatabase", "SpecError"]

FieldType = Literal["uint", "sint", "ascii", "bytes"]
Kind = Literal["status", "command", "other"]

class SpecError(Exception):
    """A DGN database file is wrong; the message names the file, DGN and field and what is wrong."""

    def __init__(self, file: str, message: str, dgn: int | None = None, name: str | None = None,
                 field: str | None = None) -> None:
        where = file
        if dgn is not None or name is not None:
            dgn_text = f"0x{dgn:05X}" if isinstance(dgn, int) else "?"
            where += f": DGN {dgn_text}" + (f" {name}" if name else "")
        if field is not None:
            where += f", field {field!r}"
        super().__init__(f"{where}: {message}")
        self.file = file
        self.dgn = dgn
        self.dgn_name = name
        self.field = field


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of a DGN, with the defaults of the format applied."""

    name: str
    byte: int
    bit: int
    width: int
    type: FieldType
    scale: float | int
    offset: float | int
    unit: str | None
    values: Mapping[int, str] | None
    special: bool
    min: float | int | None
    max: float | int | None
    notes: str | None

    @property
    def shift(self) -> int:
        """Position of the field's least significant bit in the little-endian payload."""
        return self.byte * 8 + self.bit

    @property
    def end_byte(self) -> int:
        """One past the last byte the field occupies."""
        return (self.shift + self.width + 7) // 8

    @property
    def is_text(self) -> bool:
        """True for ascii and bytes fields (not numbers)."""
        return self.type in ("ascii", "bytes")


@dataclass(frozen=True, slots=True)
class Sample:
    """A payload and the values a correct decoder gives for it."""

    payload: bytes
    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Broadcast:
    """The broadcast gaps a DGN's definition gives: milliseconds, or a short text such as "on change"."""

    min: int | str | None
    normal: int | str | None
    max: int | str | None


@dataclass(frozen=True, slots=True)
class DgnSpec:
    """One DGN of the database."""

    dgn: int
    name: str
    kind: Kind
    priority: int
    length: int | None  # None: variable length, up to max_length
    max_length: int
    instance_field: str | None
    confirmed_by: str | None
    description: str
    notes: str | None
    fields: tuple[FieldSpec, ...]
    samples: tuple[Sample, ...]
    family: str
    file: str
    source: str | None = None  # where the definition comes from, e.g. "RV-C 6.11.2" or "SAE J1939-73 DM1"
    broadcast: Broadcast | None = None
    frames: int | str | None = None  # number of frames: 1, or "variable" for multi-packet DGNs
    ack: str | None = None  # the definition's acknowledgement requirement, e.g. "none" or "NAK"

    def field(self, name: str) -> FieldSpec | None:
        """The field called `name`, or None."""
        for field in self.fields:
            if field.name == name:
                return field
        return None



class SpecDatabase:
    """The validated DGN database, indexed by DGN and by name (coachiq/rvc/spec_load.py builds it)."""

    __slots__ = ("_by_dgn", "_by_name", "_sorted")

    def __init__(self, dgns: list[DgnSpec]) -> None:
        """Index already validated DGN specs."""
        self._sorted: tuple[DgnSpec, ...] = tuple(sorted(dgns, key=lambda d: d.dgn))
        self._by_dgn: dict[int, DgnSpec] = {d.dgn: d for d in self._sorted}
        self._by_name: dict[str, DgnSpec] = {d.name: d for d in self._sorted}

    def get(self, dgn: int) -> DgnSpec | None:
        """The DGN's spec, or None when the database does not know it."""
        return self._by_dgn.get(dgn)

    def by_name(self, name: str) -> DgnSpec | None:
        """The spec of the DGN called `name` (e.g. DC_DIMMER_STATUS_3), or None."""
        return self._by_name.get(name)

    def __len__(self) -> int:
        return len(self._sorted)

    def __iter__(self) -> Iterator[DgnSpec]:
        return iter(self._sorted)

    def __contains__(self, dgn: object) -> bool:
        return dgn in self._by_dgn
