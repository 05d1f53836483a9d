"""`coachiq spec check`: the DGN database compared with the DGNs the RV-C document names.

The document's DGNs come from `document_dgns.yaml` (shipped beside this module): its DGN index merged
with its definitions. The check reports
- every DGN of the document the database does not carry, with the reason: the list's own (reserved,
  deprecated, proprietary), or "not yet in the database" when there is none;
- every database DGN without a `source`;
- database DGNs that cite the RV-C document although the document does not name their DGN;
- DGNs carried under another name than the document's (for information).

The database passes when every missing DGN has a reason and every DGN has a source.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from coachiq.rvc.spec import SpecDatabase

__all__ = ["CheckReport", "DocumentDgn", "check_database", "load_document_dgns", "render_report"]

DOCUMENT_DGNS = Path(__file__).resolve().parent / "document_dgns.yaml"
NOT_YET = "defined by the document, not yet in the database"


@dataclass(frozen=True, slots=True)
class DocumentDgn:
    """One DGN the document names."""

    dgn: int
    name: str | None
    section: str | None
    index_name: str | None = None
    absent: str | None = None  # why the database should not carry it

    @property
    def label(self) -> str:
        """The name to show: the definition's, else the index's, else a placeholder."""
        return self.name or self.index_name or "(no name)"


@dataclass(frozen=True, slots=True)
class Missing:
    """A DGN of the document that the database does not carry, and why."""

    entry: DocumentDgn
    reason: str
    explained: bool  # the list gives a reason; False: the database should carry it


@dataclass(frozen=True, slots=True)
class CheckReport:
    """What `coachiq spec check` found."""

    document_count: int
    database_count: int
    missing: tuple[Missing, ...]
    without_source: tuple[str, ...]  # database DGN names
    not_in_document: tuple[str, ...]  # database DGNs citing RV-C that the document does not name
    renamed: tuple[tuple[str, str], ...]  # (database name, document name)

    @property
    def ok(self) -> bool:
        """Every missing DGN is explained, every DGN has a source and every RV-C citation is found."""
        return (all(m.explained for m in self.missing) and not self.without_source
                and not self.not_in_document)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "ok": self.ok,
            "document_dgns": self.document_count,
            "database_dgns": self.database_count,
            "missing": [{"dgn": f"0x{m.entry.dgn:05X}", "name": m.entry.label, "section": m.entry.section,
                         "reason": m.reason, "explained": m.explained} for m in self.missing],
            "without_source": list(self.without_source),
            "not_in_document": list(self.not_in_document),
            "renamed": [{"database": db, "document": doc} for db, doc in self.renamed],
        }


def _key(dgn: int) -> int:
    # A PDU1 DGN (PF below 0xF0) carries a destination address in its low byte: compare without it.
    return dgn & 0x3FF00 if (dgn >> 8) & 0xFF < 0xF0 else dgn


def load_document_dgns(path: Path = DOCUMENT_DGNS) -> list[DocumentDgn]:
    """The document's DGNs from the list file; ValueError names the entry that is malformed."""
    raw = yaml.safe_load(path.read_text())
    entries = raw.get("dgns") if isinstance(raw, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a mapping with a 'dgns' list")
    found: list[DocumentDgn] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("dgn"), int):
            raise ValueError(f"{path}: entry {index + 1} needs an integer 'dgn'")
        unknown = set(entry) - {"dgn", "name", "section", "index_name", "absent"}
        if unknown:
            raise ValueError(f"{path}: entry {index + 1} has unknown key(s) {sorted(unknown)}")
        texts = {k: entry.get(k) for k in ("name", "section", "index_name", "absent")}
        for key, value in texts.items():
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{path}: entry {index + 1}: '{key}' must be text or null")
        if texts["name"] is None and texts["absent"] is None:
            raise ValueError(f"{path}: entry {index + 1} (0x{entry['dgn']:05X}) has neither a name nor a reason")
        found.append(DocumentDgn(entry["dgn"], texts["name"], texts["section"], texts["index_name"],
                                 texts["absent"]))
    return found


def check_database(db: SpecDatabase, document: list[DocumentDgn] | None = None) -> CheckReport:
    """Compare the database with the document's DGNs."""
    listed = load_document_dgns() if document is None else document
    carried = {_key(spec.dgn): spec for spec in db}
    known = {_key(entry.dgn) for entry in listed}
    missing: list[Missing] = []
    renamed: list[tuple[str, str]] = []
    seen: set[int] = set()
    for entry in listed:
        key = _key(entry.dgn)
        if key in seen:
            continue
        seen.add(key)
        spec = carried.get(key)
        if spec is None:
            where = f" (RV-C {entry.section})" if entry.section else ""
            reason = entry.absent if entry.absent is not None else f"{NOT_YET}{where}"
            missing.append(Missing(entry, reason, entry.absent is not None))
        elif entry.name is not None and spec.name != entry.name:
            renamed.append((spec.name, entry.name))
    without_source = tuple(spec.name for spec in db if not spec.source)
    not_in_document = tuple(spec.name for spec in db
                            if spec.source and spec.source.startswith("RV-C") and _key(spec.dgn) not in known)
    return CheckReport(len(seen), len(db), tuple(missing), without_source, not_in_document, tuple(renamed))


def render_report(report: CheckReport) -> str:
    """The report as text for a person."""
    lines = [f"{report.document_count} DGNs in the RV-C document, {report.database_count} in the database"]
    unexplained = [m for m in report.missing if not m.explained]
    explained = [m for m in report.missing if m.explained]
    lines.append(f"\nNot in the database, to be added ({len(unexplained)}):")
    lines.extend(f"  0x{m.entry.dgn:05X}  {m.entry.label:<44} {m.reason}" for m in unexplained)
    lines.append(f"\nNot in the database, on purpose ({len(explained)}):")
    lines.extend(f"  0x{m.entry.dgn:05X}  {m.entry.label:<44} {m.reason}" for m in explained)
    lines.append(f"\nDatabase DGNs without a source ({len(report.without_source)}):")
    lines.extend(f"  {name}" for name in report.without_source)
    if report.not_in_document:
        lines.append(f"\nDatabase DGNs citing RV-C that the document does not name ({len(report.not_in_document)}):")
        lines.extend(f"  {name}" for name in report.not_in_document)
    if report.renamed:
        lines.append(f"\nNamed differently from the document ({len(report.renamed)}):")
        lines.extend(f"  {db_name} (document: {doc_name})" for db_name, doc_name in report.renamed)
    lines.append("\nOK" if report.ok else "\nNOT OK: the database lacks DGNs or sources listed above")
    return "\n".join(lines) + "\n"
