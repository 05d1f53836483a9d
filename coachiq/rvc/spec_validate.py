"""Validate parsed DGN database files: every rule of docs/dgn-format.md, one SpecError per problem.

Every problem names the file, the DGN and the field, so that a broken entry is found at start-up,
never at decode time.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from coachiq.rvc.fields import physical_range
from coachiq.rvc.spec import Broadcast, DgnSpec, FieldSpec, Sample, SpecError

__all__ = ["check_database", "validate_document"]

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


def validate_document(file: str, document: Any) -> list[DgnSpec]:
    """The DGN specs of one parsed file (what parse_spec_document returned); SpecError when invalid."""
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


def check_database(dgns: list[DgnSpec]) -> None:
    """Checks across files: unique DGNs and names, confirmed_by naming a status DGN."""
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
