"""The result of decoding one payload (Decoded) and its JSON form."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from coachiq.rvc.fields import Value

if TYPE_CHECKING:
    from coachiq.rvc.decoders import CompiledDgn

__all__ = ["EMPTY", "Decoded", "decoded_to_json"]

# Shared by every Decoded without special values or enumerations; read-only so nobody can corrupt it.
EMPTY: Mapping[Any, Any] = MappingProxyType({})


class Decoded:
    """The result of decoding one payload. Never raised from; problems are listed in `errors`.

    values:  field -> physical value (enumerations as labels, special values as None)
    special: field -> "not_available" | "error" | "reserved", only for fields that were special
    raw:     field -> raw integer, for enumeration fields and special-valued fields
    units:   field -> unit, for fields that have one
    """

    __slots__ = ("_compiled", "_found", "_raw", "_special", "dgn", "errors", "instance", "name", "payload",
                 "units", "values")

    def __init__(
        self,
        dgn: int,
        name: str | None,
        instance: int | None,
        values: dict[str, Value],
        special: Mapping[str, str] | None = EMPTY,
        raw: Mapping[str, int] | None = EMPTY,
        errors: tuple[str, ...] = (),
        payload: bytes = b"",
        units: Mapping[str, str] = EMPTY,
        compiled: CompiledDgn | None = None,
        found: int = 0,
    ) -> None:
        self.dgn = dgn
        self.name = name
        self.instance = instance
        self.values = values
        # special and raw may be None: then they are worked out from the payload on first access, so
        # the hot path (most frames are never looked at field by field) skips building them.
        self._special = special
        self._found = found
        self._raw = raw
        self.errors = errors
        self.payload = payload
        self.units = units
        self._compiled = compiled

    @property
    def special(self) -> Mapping[str, str]:
        """Fields whose raw value was special: "not_available", "error" or "reserved"."""
        if self._special is None:
            compiled = self._compiled
            found = self._found
            self._special = compiled.special_of(self.payload, found) if compiled and found else EMPTY
        return self._special

    @property
    def raw(self) -> Mapping[str, int]:
        """Raw integers of enumeration fields and special-valued fields."""
        if self._raw is None:
            compiled = self._compiled
            self._raw = compiled.raw_of(self.payload, self.special) if compiled is not None else EMPTY
        return self._raw

    @property
    def known(self) -> bool:
        """True when the DGN is in the database."""
        return self.name is not None

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict (bytes as hex strings)."""
        return {
            "dgn": self.dgn,
            "name": self.name,
            "instance": self.instance,
            "values": _json_values(self.values),
            "special": dict(self.special),
            "raw": dict(self.raw),
            "errors": list(self.errors),
            "payload": self.payload.hex().upper(),
        }

    def __repr__(self) -> str:
        return (f"Decoded(dgn=0x{self.dgn:05X}, name={self.name!r}, instance={self.instance!r}, "
                f"values={self.values!r}, special={dict(self.special)!r}, errors={self.errors!r})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Decoded):
            return NotImplemented
        return all(getattr(self, slot) == getattr(other, slot) for slot in (
            "dgn", "name", "instance", "values", "special", "raw", "errors", "payload"))

    __hash__ = None  # type: ignore[assignment]  # mutable value object


def _json_values(values: Mapping[str, Value]) -> dict[str, Any]:
    return {k: (v.hex().upper() if isinstance(v, bytes) else v) for k, v in values.items()}


def decoded_to_json(decoded: Decoded, can_id: int, timestamp: float) -> dict[str, Any]:
    """One decoded frame as a JSON-ready dict (the shape of `coachiq decode` output lines)."""
    return {
        "timestamp": timestamp,
        "can_id": can_id,
        "priority": (can_id >> 26) & 0x7,
        "source_address": can_id & 0xFF,
        "dgn": decoded.dgn,
        "name": decoded.name,
        "instance": decoded.instance,
        "values": _json_values(decoded.values),
        "units": {k: u for k, u in decoded.units.items() if k in decoded.values},
        "raw": dict(decoded.raw),
        "errors": list(decoded.errors),
    }
