"""Views of the DGN database for people and tools: docs/dgns.md and the `coachiq spec` JSON.

`python -m coachiq.rvc.docs > docs/dgns.md` regenerates the reference page (the same as
`coachiq spec docs > docs/dgns.md`).
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

from coachiq.rvc.spec import DgnSpec, FieldSpec, SpecDatabase
from coachiq.rvc.spec_load import load_database

__all__ = ["REGENERATE_COMMAND", "field_to_dict", "main", "render_markdown", "spec_list", "spec_show"]

REGENERATE_COMMAND = "coachiq spec docs > docs/dgns.md"


def field_to_dict(field: FieldSpec) -> dict[str, Any]:
    """One field as a JSON-ready dict (defaults applied, enumeration keys as strings)."""
    return {
        "name": field.name,
        "byte": field.byte,
        "bit": field.bit,
        "width": field.width,
        "type": field.type,
        "scale": field.scale,
        "offset": field.offset,
        "unit": field.unit,
        "values": {str(k): v for k, v in field.values.items()} if field.values is not None else None,
        "special": "standard" if field.special else "none",
        "min": field.min,
        "max": field.max,
        "notes": field.notes,
    }


def _summary(spec: DgnSpec) -> dict[str, Any]:
    return {
        "dgn": spec.dgn,
        "dgn_hex": f"0x{spec.dgn:05X}",
        "name": spec.name,
        "kind": spec.kind,
        "family": spec.family,
        "priority": spec.priority,
        "source": spec.source,
        "length": spec.length if spec.length is not None else "variable",
        "fields": [field_to_dict(f) for f in spec.fields],
    }


def spec_list(db: SpecDatabase) -> list[dict[str, Any]]:
    """Every DGN, sorted by number, as JSON-ready dicts (for `coachiq spec list --json`)."""
    return [_summary(spec) for spec in db]


def spec_show(db: SpecDatabase, dgn: int | str) -> dict[str, Any]:
    """Everything about one DGN, given by number or name; raises KeyError when unknown."""
    spec = db.by_name(dgn) if isinstance(dgn, str) else db.get(dgn)
    if spec is None:
        shown = dgn if isinstance(dgn, str) else f"0x{dgn:05X}"
        raise KeyError(f"unknown DGN {shown}: `coachiq spec list` shows the known ones")
    return {
        **_summary(spec),
        "max_length": spec.max_length,
        "instance_field": spec.instance_field,
        "confirmed_by": spec.confirmed_by,
        "broadcast": dataclasses.asdict(spec.broadcast) if spec.broadcast else None,
        "frames": spec.frames,
        "ack": spec.ack,
        "description": spec.description,
        "notes": spec.notes,
        "file": spec.file,
        "samples": [{"payload": s.payload.hex(" ").upper(), "values": dict(s.values)} for s in spec.samples],
    }


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _bits(field: FieldSpec) -> tuple[str, str]:
    if field.width <= 8:
        bits = f"{field.bit}" if field.width == 1 else f"{field.bit}-{field.bit + field.width - 1}"
        return str(field.byte), bits
    last_byte = field.end_byte - 1
    return f"{field.byte}-{last_byte}", f"{field.width} bits"


def _number(value: float | int) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def render_markdown(db: SpecDatabase) -> str:
    """The text of docs/dgns.md: a contents table, then one section per DGN sorted by number."""
    out = [
        "# RV-C DGN reference",
        "",
        f"Generated from `coachiq/rvc/dgns/*.yaml`; do not edit by hand. Regenerate with `{REGENERATE_COMMAND}`.",
        "The file format is described in [dgn-format.md](dgn-format.md).",
        "",
        f"{len(db)} DGNs.",
        "",
        "| DGN | Name | Family | Kind | Length |",
        "| --- | --- | --- | --- | --- |",
    ]
    for spec in db:
        length = str(spec.length) if spec.length is not None else "variable"
        anchor = f"0x{spec.dgn:05x}-{spec.name.lower()}"
        out.append(f"| 0x{spec.dgn:05X} | [{spec.name}](#{anchor}) | {spec.family} | {spec.kind} | {length} |")
    for spec in db:
        out += ["", f"## 0x{spec.dgn:05X} {spec.name}", "", _cell(spec.description), ""]
        length = (f"{spec.length} bytes" if spec.length is not None
                  else f"variable, up to {spec.max_length} bytes")
        out.append(f"- Kind: {spec.kind}; family: {spec.family}; default priority: {spec.priority}; "
                   f"length: {length}")
        if spec.instance_field:
            out.append(f"- Instance field: `{spec.instance_field}`")
        if spec.confirmed_by:
            out.append(f"- Confirmed by: {spec.confirmed_by}")
        if spec.notes:
            out.append(f"- Notes: {_cell(spec.notes)}")
        out += ["", "| Field | Byte | Bits | Type | Scale | Offset | Unit | Meaning |",
                "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for field in spec.fields:
            byte, bits = _bits(field)
            meaning = []
            if field.values is not None:
                meaning.append(", ".join(f"{k} = {v}" for k, v in sorted(field.values.items())))
            if field.min is not None or field.max is not None:
                low = _number(field.min) if field.min is not None else ""
                high = _number(field.max) if field.max is not None else ""
                meaning.append(f"range {low}..{high}")
            if field.special and not field.is_text:
                meaning.append("special values apply")
            if field.notes:
                meaning.append(_cell(field.notes))
            out.append(
                f"| `{field.name}` | {byte} | {bits} | {field.type} | {_number(field.scale)} | "
                f"{_number(field.offset)} | {field.unit or ''} | {_cell('; '.join(meaning))} |"
            )
    return "\n".join(out) + "\n"


def main() -> int:
    """Write docs/dgns.md's text for the packaged database to stdout."""
    sys.stdout.write(render_markdown(load_database()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
