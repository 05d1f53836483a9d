"""Load, validate and compile the DGN database (the YAML files in coachiq/rvc/spec/).

The format is described in docs/dgn-format.md. Every problem is reported as a SpecError naming the file,
the DGN and the field, so that a broken entry is found at start-up, never at decode time.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from coachiq.rvc.codec import CompiledDgn, compile_dgn, physical_range

__all__ = [
    "Broadcast",
    "DgnSpec",
    "FieldSpec",
    "Sample",
    "SpecDatabase",
    "SpecError",
    "default_spec_directory",
    "parse_spec_document",
]

FieldType = Literal["uint", "sint", "ascii", "bytes"]
Kind = Literal["status", "command", "other"]

_MAX_LENGTH = 1785  # largest J1939 multi-packet message
_UPPER_SNAKE = re.compile(r"^[A-Z][A-Z0-9_]*$")
_SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
_LABEL = re.compile(r"^[a-z0-9][a-z0-9_]*$")

_FILE_KEYS = {"family", "dgns"}
_DGN_REQUIRED = {"dgn", "name", "kind", "length", "description", "fields", "samples"}
_DGN_KEYS = _DGN_REQUIRED | {
    "priority", "max_length", "instance", "confirmed_by", "notes", "source", "broadcast", "frames", "ack",
}
_BROADCAST_KEYS = {"min", "normal", "max"}
_FIELD_KEYS = {
    "name", "byte", "bit", "width", "type", "scale", "offset", "unit", "values", "special", "min", "max",
    "notes",
}
_SAMPLE_KEYS = {"payload", "values"}


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


_PLAIN_TAG = "!coachiq/plain"
_STR_TAG = "tag:yaml.org,2002:str"
_INT_TEXT = re.compile(r"^[-+]?(?:[0-9][0-9_]*|0x[0-9a-fA-F_]+|0o[0-7_]+)$")
_FLOAT_TEXT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?$")
_CONSTANTS: dict[str, Any] = {
    "": None, "~": None, "null": None, "Null": None, "NULL": None,
    "true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False,
}
_BaseLoader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _SpecLoader(_BaseLoader):  # type: ignore[misc]
    """libyaml parser whose scalars are typed by _plain_scalar instead of PyYAML's resolver.

    PyYAML's resolver and constructor are pure Python and cost more than the parsing itself; this
    keeps the whole database load fast. Typing follows YAML 1.2: only true/false are booleans, so
    labels such as on/off/yes/no stay strings (YAML 1.1 would turn them into booleans).
    """

    def resolve(self, kind: type[Any], value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            return _PLAIN_TAG if implicit[0] else _STR_TAG
        return "tag:yaml.org,2002:map" if kind is MappingNode else "tag:yaml.org,2002:seq"


_NUMBER_START = frozenset("0123456789+-.")


def _plain_scalar(text: str) -> Any:
    if text and text[0] not in _NUMBER_START:
        return _CONSTANTS.get(text, text) if text[0] in "nNtTfF~" else text
    if text in _CONSTANTS:
        return _CONSTANTS[text]
    if _INT_TEXT.match(text):
        digits = text.replace("_", "")
        head = digits.lstrip("+-")[:2]
        base = 16 if head == "0x" else 8 if head == "0o" else 10
        sign = -1 if digits.startswith("-") else 1
        return sign * int(digits.lstrip("+-")[2 if base != 10 else 0:], base)
    if _FLOAT_TEXT.match(text):
        return float(text.replace("_", ""))
    return text


_INTERN_MAX = 40


def _to_python(node: Node) -> Any:
    kind = node.__class__
    if kind is ScalarNode:
        value = _plain_scalar(node.value) if node.tag == _PLAIN_TAG else node.value
        # Keys, field names, labels and units repeat across hundreds of DGNs: interned, each is kept
        # once in memory, and marshal (which records interning) keeps them shared when reloaded.
        if value.__class__ is str and len(value) <= _INTERN_MAX:
            return sys.intern(value)
        return value
    if kind is MappingNode:
        return {_to_python(key): _to_python(value) for key, value in node.value}
    if kind is SequenceNode:
        return [_to_python(item) for item in node.value]
    raise TypeError(f"unexpected YAML node {node!r}")  # pragma: no cover - the composer makes no others


def _read_yaml(data: bytes) -> Any:
    loader = _SpecLoader(data)
    try:
        node = loader.get_single_node()
    finally:
        loader.dispose()
    return None if node is None else _to_python(node)


def default_spec_directory() -> Path:
    """The folder of spec files shipped inside the package."""
    return Path(__file__).resolve().parent / "spec"


class _Shared:
    """Equal fields and enumerations of a run-time database as one object each.

    Of some 2300 fields about half repeat another DGN's field exactly (an instance byte, the usual
    on/off and fault enumerations), and only a quarter of the thousand enumerations differ. Both are
    immutable, so sharing them changes nothing a reader sees.
    """

    def __init__(self) -> None:
        self._values: dict[tuple[tuple[int, str], ...], Mapping[int, str]] = {}
        self._fields: dict[tuple[Any, ...], FieldSpec] = {}

    def field(self, field: FieldSpec) -> FieldSpec:
        values = None
        if field.values is not None:
            values = self._values.setdefault(tuple(field.values.items()), field.values)
        key = (field.name, field.byte, field.bit, field.width, field.type, type(field.scale), field.scale,
               type(field.offset), field.offset, field.unit, None if values is None else id(values),
               field.special, type(field.min), field.min, type(field.max), field.max)
        shared = self._fields.get(key)
        if shared is None:
            shared = dataclasses.replace(field, values=values, notes=None)
            self._fields[key] = shared
        return shared

    def without_documentation(self, spec: DgnSpec) -> DgnSpec:
        """The spec with only what decoding and encoding read (see SpecDatabase.load)."""
        return dataclasses.replace(spec, samples=(), notes=None, description="", source=None, broadcast=None,
                                   frames=None, ack=None, fields=tuple(self.field(f) for f in spec.fields))


class SpecDatabase:
    """The validated DGN database and its compiled decoders, indexed by DGN and by name."""

    __slots__ = ("_by_dgn", "_by_name", "_compiled", "_sorted")

    def __init__(self, dgns: list[DgnSpec]) -> None:
        """Index already validated DGN specs and compile one codec per DGN."""
        self._sorted: tuple[DgnSpec, ...] = tuple(sorted(dgns, key=lambda d: d.dgn))
        self._by_dgn: dict[int, DgnSpec] = {d.dgn: d for d in self._sorted}
        self._by_name: dict[str, DgnSpec] = {d.name: d for d in self._sorted}
        self._compiled: dict[int, CompiledDgn] = {d.dgn: compile_dgn(d) for d in self._sorted}

    @classmethod
    def load(cls, directory: Path | None = None, *, keep_samples_and_notes: bool = True) -> SpecDatabase:
        """Load and validate every *.yaml file in `directory` (default: the package's spec folder).

        keep_samples_and_notes=False: samples, notes and the other text that only documents a DGN are
        validated but not kept: DgnSpec.samples is empty, DgnSpec.description "", DgnSpec.notes, source,
        broadcast, frames and ack and FieldSpec.notes None. A server that only decodes and encodes reads
        none of them; `coachiq spec`, the docs and the checks load the full database.
        """
        folder = directory if directory is not None else default_spec_directory()
        return cls.from_documents(((path.name, parse_spec_document(path.read_bytes(), path.name))
                                   for path in sorted(folder.glob("*.yaml"))),
                                  keep_samples_and_notes=keep_samples_and_notes)

    @classmethod
    def from_documents(cls, documents: Iterable[tuple[str, Any]], *,
                       keep_samples_and_notes: bool = True) -> SpecDatabase:
        """Validate already parsed spec files: (file name, what parse_spec_document returned) pairs.

        The same checks and options as load(); lets a caller that keeps parsed documents skip the YAML
        parsing. Each document is dropped once validated, so an iterator that parses one file at a time
        keeps only one file's document in memory.
        """
        dgns: list[DgnSpec] = []
        shared = None if keep_samples_and_notes else _Shared()
        for file, document in documents:
            parsed = _parse_document(file, document)
            if shared is not None:
                # Samples and the documenting text are a good part of the database's memory; only the
                # docs, the checks and the tests read them. Dropped file by file, so that the whole
                # database never stands in memory with them.
                parsed = [shared.without_documentation(spec) for spec in parsed]
            dgns.extend(parsed)
        _check_database(dgns)
        return cls(dgns)

    def get(self, dgn: int) -> DgnSpec | None:
        """The DGN's spec, or None when the database does not know it."""
        return self._by_dgn.get(dgn)

    def by_name(self, name: str) -> DgnSpec | None:
        """The spec of the DGN called `name` (e.g. DC_DIMMER_STATUS_3), or None."""
        return self._by_name.get(name)

    def compiled(self) -> Mapping[int, CompiledDgn]:
        """The compiled codec of every DGN, by DGN (read-only view)."""
        return MappingProxyType(self._compiled)

    def __len__(self) -> int:
        return len(self._sorted)

    def __iter__(self) -> Iterator[DgnSpec]:
        return iter(self._sorted)

    def __contains__(self, dgn: object) -> bool:
        return dgn in self._by_dgn


# --- validation -------------------------------------------------------------------------------------


def parse_spec_document(data: bytes, file: str) -> Any:
    """Parse one spec file's YAML into plain dicts, lists, strings and numbers (SpecError if not YAML).

    The result is only parsed, not validated: SpecDatabase.from_documents validates it.
    """
    try:
        return _read_yaml(data)
    except yaml.YAMLError as exc:
        raise SpecError(file, f"is not valid YAML: {exc}") from exc


def _parse_document(file: str, document: Any) -> list[DgnSpec]:
    if not isinstance(document, dict):
        raise SpecError(file, "must be a mapping with keys 'family' and 'dgns'")
    unknown = set(document) - _FILE_KEYS
    if unknown:
        raise SpecError(file, f"unknown top-level key(s) {sorted(map(str, unknown))}; allowed: family, dgns")
    family = document.get("family")
    if not isinstance(family, str) or not _SNAKE.match(family):
        raise SpecError(file, f"'family' must be a snake_case string, got {family!r}")
    entries = document.get("dgns")
    if not isinstance(entries, list) or not entries:
        raise SpecError(file, "'dgns' must be a non-empty list")
    return [_parse_dgn(file, family, entry, index) for index, entry in enumerate(entries)]


def _parse_dgn(file: str, family: str, entry: Any, index: int) -> DgnSpec:
    if not isinstance(entry, dict):
        raise SpecError(file, f"entry #{index + 1} of 'dgns' must be a mapping")
    dgn = entry.get("dgn")
    name = entry.get("name")
    shown_name = name if isinstance(name, str) else None
    shown_dgn = dgn if isinstance(dgn, int) and not isinstance(dgn, bool) else None

    def fail(message: str, field: str | None = None) -> SpecError:
        return SpecError(file, message, dgn=shown_dgn, name=shown_name, field=field)

    if shown_dgn is None and shown_name is None:
        raise SpecError(file, f"entry #{index + 1} of 'dgns' has no valid 'dgn' or 'name'")
    unknown = set(entry) - _DGN_KEYS
    if unknown:
        raise fail(f"unknown key(s) {sorted(map(str, unknown))}; allowed: {sorted(_DGN_KEYS)}")
    missing = _DGN_REQUIRED - set(entry)
    if missing:
        raise fail(f"missing required key(s) {sorted(missing)}")
    if shown_dgn is None or not 0 <= shown_dgn <= 0x3FFFF:
        raise fail(f"'dgn' must be an integer 0x0..0x3FFFF (write it in hex), got {dgn!r}")
    if shown_name is None or not _UPPER_SNAKE.match(shown_name):
        raise fail(f"'name' must be UPPER_SNAKE_CASE, got {name!r}")
    kind = entry["kind"]
    if kind not in ("status", "command", "other"):
        raise fail(f"'kind' must be status, command or other, got {kind!r}")
    priority = entry.get("priority", 6)
    if not _is_int(priority) or not 0 <= priority <= 7:
        raise fail(f"'priority' must be an integer 0..7, got {priority!r}")
    length_value = entry["length"]
    length: int | None
    if length_value == "variable":
        length = None
        max_value: Any = entry.get("max_length")
        if not _is_int(max_value) or not 1 <= max_value <= _MAX_LENGTH:
            raise fail(f"'max_length' must be an integer 1..{_MAX_LENGTH} when length is variable, "
                       f"got {max_value!r}")
        max_length: int = max_value
    else:
        if not _is_int(length_value) or not 0 <= length_value <= _MAX_LENGTH:
            raise fail(f"'length' must be an integer 0..{_MAX_LENGTH} or \"variable\", got {length_value!r}")
        if "max_length" in entry:
            raise fail("'max_length' is only allowed when length is \"variable\"")
        length = max_length = length_value
    description = entry["description"]
    if not isinstance(description, str) or not description.strip():
        raise fail("'description' must be a non-empty string")
    notes = entry.get("notes")
    if notes is not None and not isinstance(notes, str):
        raise fail("'notes' must be a string")
    confirmed_by = entry.get("confirmed_by")
    if confirmed_by is not None:
        if not isinstance(confirmed_by, str):
            raise fail(f"'confirmed_by' must be a DGN name or null, got {confirmed_by!r}")
        if kind != "command":
            raise fail("'confirmed_by' is only allowed on command DGNs")

    raw_fields = entry["fields"]
    if not isinstance(raw_fields, list):
        raise fail("'fields' must be a list")
    fields: list[FieldSpec] = []
    for position, raw_field in enumerate(raw_fields):
        fields.append(_parse_field(raw_field, position, max_length, fail))
    _check_layout(fields, length, max_length, fail)

    instance = entry.get("instance")
    if instance is not None and (not isinstance(instance, str) or instance not in {f.name for f in fields}):
        raise fail(f"'instance' must name one of the DGN's fields, got {instance!r}")
    if instance is not None:
        instance_spec = next(f for f in fields if f.name == instance)
        if instance_spec.is_text:
            raise fail("'instance' must name a numeric field", field=instance)

    samples = _parse_samples(entry["samples"], fields, length, max_length, fail)
    source = entry.get("source")
    if source is not None and (not isinstance(source, str) or not source.strip()):
        raise fail(f"'source' must be a non-empty string, got {source!r}")
    broadcast = _parse_broadcast(entry.get("broadcast"), fail)
    frames = entry.get("frames")
    if frames is not None and frames != "variable" and not (_is_int(frames) and frames >= 1):
        raise fail(f"'frames' must be a positive integer or \"variable\", got {frames!r}")
    ack = entry.get("ack")
    if ack is not None and (not isinstance(ack, str) or not ack.strip()):
        raise fail(f"'ack' must be a non-empty string, got {ack!r}")
    return DgnSpec(
        dgn=shown_dgn, name=shown_name, kind=kind, priority=priority, length=length, max_length=max_length,
        instance_field=instance, confirmed_by=confirmed_by, description=description.strip(),
        notes=notes.strip() if notes else None, fields=tuple(fields), samples=samples, family=family,
        file=file, source=source.strip() if source else None, broadcast=broadcast, frames=frames,
        ack=ack.strip() if ack else None,
    )


def _parse_broadcast(raw: Any, fail: Any) -> Broadcast | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise fail(f"'broadcast' must be a mapping with keys min, normal, max, got {raw!r}")
    unknown = set(raw) - _BROADCAST_KEYS
    if unknown:
        raise fail(f"'broadcast' has unknown key(s) {sorted(map(str, unknown))}; allowed: max, min, normal")
    gaps: dict[str, int | str | None] = {}
    for key in ("min", "normal", "max"):
        value = raw.get(key)
        ok = value is None or (_is_int(value) and value >= 0) or (isinstance(value, str) and value.strip())
        if not ok:
            raise fail(f"'broadcast.{key}' must be milliseconds (an integer), a short text or null, got {value!r}")
        gaps[key] = value.strip() if isinstance(value, str) else value
    return Broadcast(min=gaps["min"], normal=gaps["normal"], max=gaps["max"])


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _parse_field(raw: Any, position: int, max_length: int, fail: Any) -> FieldSpec:
    if not isinstance(raw, dict):
        raise fail(f"field #{position + 1} must be a mapping")
    name = raw.get("name")
    if not isinstance(name, str) or not _SNAKE.match(name):
        raise fail(f"field #{position + 1} needs a snake_case 'name', got {name!r}")

    def bad(message: str) -> SpecError:
        error: SpecError = fail(message, field=name)
        return error

    unknown = set(raw) - _FIELD_KEYS
    if unknown:
        raise bad(f"unknown key(s) {sorted(map(str, unknown))}; allowed: {sorted(_FIELD_KEYS)}")
    if "byte" not in raw:
        raise bad("'byte' is required")
    byte, bit, width = raw["byte"], raw.get("bit", 0), raw.get("width", 8)
    if not _is_int(byte) or not 0 <= byte < max_length:
        raise bad(f"'byte' must be an integer 0..{max_length - 1}, got {byte!r}")
    if not _is_int(bit) or not 0 <= bit <= 7:
        raise bad(f"'bit' must be an integer 0..7, got {bit!r}")
    if not _is_int(width) or width < 1:
        raise bad(f"'width' must be a positive integer, got {width!r}")
    if width > 8 and bit != 0:
        raise bad(f"a field wider than 8 bits must start at bit 0, got bit {bit}")
    if width <= 8 and bit + width > 8:
        raise bad(f"bit field crosses a byte boundary (bit {bit} + width {width} > 8)")
    field_type = raw.get("type", "uint")
    if field_type not in ("uint", "sint", "ascii", "bytes"):
        raise bad(f"'type' must be uint, sint, ascii or bytes, got {field_type!r}")
    text = field_type in ("ascii", "bytes")
    if text and (bit != 0 or width % 8):
        raise bad(f"{field_type} fields start at bit 0 and have a width that is a multiple of 8")
    if text and (set(raw) & {"scale", "offset", "values", "min", "max"}):
        raise bad(f"{field_type} fields take no scale, offset, values, min or max")
    if field_type == "sint" and width < 2:
        raise bad("a sint field needs at least 2 bits")

    scale, offset = raw.get("scale", 1), raw.get("offset", 0)
    if not _is_number(scale) or scale <= 0:
        raise bad(f"'scale' must be a positive number, got {scale!r}")
    if not _is_number(offset):
        raise bad(f"'offset' must be a number, got {offset!r}")
    unit = raw.get("unit")
    if unit is not None and (not isinstance(unit, str) or not unit):
        raise bad(f"'unit' must be a non-empty string, got {unit!r}")
    special_text = raw.get("special", "standard" if field_type == "uint" else "none")
    if special_text not in ("standard", "none"):
        raise bad(f"'special' must be standard or none, got {special_text!r}")
    if text and special_text == "standard":
        raise bad(f"{field_type} fields cannot use the standard special values")

    values = raw.get("values")
    labels: Mapping[int, str] | None = None
    if values is not None:
        if not isinstance(values, dict) or not values:
            raise bad("'values' must be a non-empty mapping of raw integer to label")
        if scale != 1 or offset != 0 or unit is not None:
            raise bad("an enumeration ('values') takes no scale, offset or unit")
        top = (1 << width) - 1
        seen: set[str] = set()
        for key, label in values.items():
            if not _is_int(key) or not 0 <= key <= top:
                raise bad(f"enumeration key {key!r} must be an integer 0..{top}")
            if not isinstance(label, str) or not _LABEL.match(label):
                raise bad(f"enumeration label {label!r} for {key} must be snake_case")
            if label in seen:
                raise bad(f"enumeration label {label!r} is used twice")
            seen.add(label)
        labels = MappingProxyType(dict(values))

    low, high = raw.get("min"), raw.get("max")
    for key, bound in (("min", low), ("max", high)):
        if bound is not None and not _is_number(bound):
            raise bad(f"'{key}' must be a number, got {bound!r}")
    field = FieldSpec(
        name=name, byte=byte, bit=bit, width=width, type=field_type, scale=scale, offset=offset, unit=unit,
        values=labels, special=special_text == "standard", min=low, max=high, notes=raw.get("notes"),
    )
    if field.notes is not None and not isinstance(field.notes, str):
        raise bad("'notes' must be a string")
    if not text:
        type_low, type_high = physical_range(field, use_limits=False)
        if low is not None and not type_low <= low <= type_high:
            raise bad(f"'min' {low} is outside the data type's range {type_low}..{type_high}")
        if high is not None and not type_low <= high <= type_high:
            raise bad(f"'max' {high} is outside the data type's range {type_low}..{type_high}")
        if low is not None and high is not None and low > high:
            raise bad(f"'min' {low} is greater than 'max' {high}")
    return field


def _check_layout(fields: list[FieldSpec], length: int | None, max_length: int, fail: Any) -> None:
    names: set[str] = set()
    for position, field in enumerate(fields):
        if field.name in names:
            raise fail("field name is used twice", field=field.name)
        names.add(field.name)
        if field.end_byte > max_length:
            raise fail(f"field ends at byte {field.end_byte - 1}, beyond the DGN's {max_length} bytes",
                       field=field.name)
        if length is None and field.is_text and field.end_byte == max_length and position != len(fields) - 1:
            raise fail("the variable-length field must be the last field", field=field.name)
        if length is None and field.end_byte == max_length and not field.is_text:
            raise fail("in a variable-length DGN only an ascii or bytes field may reach max_length",
                       field=field.name)
    ordered = sorted(fields, key=lambda f: f.shift)
    for before, after in itertools.pairwise(ordered):
        if after.shift < before.shift + before.width:
            raise fail(f"overlaps field {before.name!r} at byte {after.byte} bit {after.bit}", field=after.name)


def _parse_samples(raw: Any, fields: list[FieldSpec], length: int | None, max_length: int,
                   fail: Any) -> tuple[Sample, ...]:
    if not isinstance(raw, list) or not raw:
        raise fail("'samples' must be a non-empty list (every DGN has at least one sample)")
    names = [f.name for f in fields]
    samples: list[Sample] = []
    for index, sample in enumerate(raw):
        label = f"sample #{index + 1}"
        if not isinstance(sample, dict):
            raise fail(f"{label} must be a mapping with 'payload' and 'values'")
        unknown = set(sample) - _SAMPLE_KEYS
        if unknown or "payload" not in sample or "values" not in sample:
            raise fail(f"{label} must have exactly the keys 'payload' and 'values'")
        text = sample["payload"]
        try:
            payload = bytes.fromhex(text) if isinstance(text, str) else None
        except ValueError:
            payload = None
        if payload is None:
            raise fail(f"{label}: 'payload' must be hex bytes like \"01 FF C8\", got {text!r}")
        if length is not None and len(payload) != length:
            raise fail(f"{label}: payload is {len(payload)} bytes, the DGN's length is {length}")
        if length is None and len(payload) > max_length:
            raise fail(f"{label}: payload is {len(payload)} bytes, more than max_length {max_length}")
        values = sample["values"]
        if not isinstance(values, dict):
            raise fail(f"{label}: 'values' must be a mapping of field name to value")
        missing = [n for n in names if n not in values]
        if missing:
            raise fail(f"{label}: 'values' must list every field; missing {missing}")
        extra = [str(n) for n in values if n not in names]
        if extra:
            raise fail(f"{label}: 'values' names unknown field(s) {extra}")
        samples.append(Sample(payload=payload, values=MappingProxyType(dict(values))))
    return tuple(samples)


def _check_database(dgns: list[DgnSpec]) -> None:
    by_dgn: dict[int, DgnSpec] = {}
    by_name: dict[str, DgnSpec] = {}
    for spec in dgns:
        first = by_dgn.get(spec.dgn)
        if first is not None:
            raise SpecError(spec.file, f"is defined twice (also in {first.file} as {first.name})",
                            dgn=spec.dgn, name=spec.name)
        by_dgn[spec.dgn] = spec
        other = by_name.get(spec.name)
        if other is not None:
            raise SpecError(spec.file, f"name is already used by DGN 0x{other.dgn:05X} in {other.file}",
                            dgn=spec.dgn, name=spec.name)
        by_name[spec.name] = spec
    for spec in dgns:
        if spec.confirmed_by is None:
            continue
        target = by_name.get(spec.confirmed_by)
        if target is None or target.kind != "status":
            raise SpecError(spec.file, f"'confirmed_by' {spec.confirmed_by!r} is not a status DGN of the "
                            "database", dgn=spec.dgn, name=spec.name)
