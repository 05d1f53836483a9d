"""`coachiq spec check`: the document's DGN list, the comparison with the database, and the command."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from coachiq.rvc.spec import SpecDatabase
from coachiq.rvc.spec_load import load_database
from coachiq.rvc.speccheck import NOT_YET, DocumentDgn, check_database, load_document_dgns, render_report
from tests.conftest import run_cli

_SMALL_DB = """
family: test
dgns:
  - dgn: 0x1FFF4
    name: CHASSIS_MOBILITY_STATUS
    kind: status
    priority: 4
    length: 8
    instance: null
    description: Test entry with a source.
    source: RV-C 6.11.2
    fields:
      - {name: park_brake, byte: 4, bit: 0, width: 2, values: {0: released, 1: engaged}}
    samples:
      - payload: "FF FF FF FF FD FF FF FF"
        values: {park_brake: engaged}
  - dgn: 0xEC00
    name: TP_CONNECTION_MANAGEMENT
    kind: other
    priority: 7
    length: 8
    instance: null
    description: Test entry without a source, at a PDU1 DGN.
    fields:
      - {name: control, byte: 0}
    samples:
      - payload: "20 FF FF FF FF FF FF FF"
        values: {control: 32}
  - dgn: 0x1FABC
    name: MADE_UP_STATUS
    kind: status
    priority: 6
    length: 8
    instance: null
    description: Test entry citing the document for a DGN it does not name.
    source: RV-C 9.9.9
    fields:
      - {name: level, byte: 0}
    samples:
      - payload: "01 FF FF FF FF FF FF FF"
        values: {level: 1}
"""


@pytest.fixture(scope="module")
def document() -> list[DocumentDgn]:
    return load_document_dgns()


def test_the_document_list_holds_the_index_and_the_definitions(document: list[DocumentDgn]) -> None:
    by_dgn = {entry.dgn: entry for entry in document}
    assert len(by_dgn) == len(document) > 300
    # spot checks against the document: a definition, an index slip and the hand-corrected names
    assert (by_dgn[0x1FFF4].name, by_dgn[0x1FFF4].section) == ("CHASSIS_MOBILITY_STATUS", "6.11.2")
    assert (by_dgn[0x1FEF2].name, by_dgn[0x1FEF2].section) == ("AWNING_COMMAND", "6.38.3")
    assert by_dgn[0x1FDB8].name == "DC_LIGHTING_CONTROLLER_COMMAND_5"
    assert by_dgn[0x1FDE8].name == "LEVELING_SENSOR_PITCH_CONFIG_COMMAND"
    assert (by_dgn[0x1FEE5].name, by_dgn[0x1FEE5].index_name) == ("DOOR_STATUS", "LOCK_STATUS")
    assert by_dgn[0x1FFD9].name == "GENERATOR_START_CONFIG_STATUS"  # written "1 FFD9" in the index
    assert by_dgn[0x1FF9E].name is None and "reserved" in (by_dgn[0x1FF9E].absent or "")
    assert "deprecated" in (by_dgn[0x0FEF3].absent or "")
    for entry in document:
        assert entry.name is not None or entry.absent, hex(entry.dgn)
        assert entry.name is None or re.fullmatch(r"[A-Z][A-Z0-9_]+", entry.name), entry.name
        assert entry.section is None or re.fullmatch(r"\d+(\.\d+)+", entry.section), entry.section


def test_check_reports_missing_dgns_with_reasons_and_dgns_without_source(tmp_path: Path) -> None:
    (tmp_path / "test.yaml").write_text(_SMALL_DB)
    db = load_database(tmp_path)
    document = [
        DocumentDgn(0x1FFF4, "CHASSIS_MOBILITY_STATUS", "6.11.2"),
        DocumentDgn(0x0ECFF, "INITIAL_PACKET", "3.2.7.1"),  # PDU1: matches 0xEC00 without the destination
        DocumentDgn(0x1FFF3, "CHASSIS_MOBILITY_COMMAND", "6.11.4"),
        DocumentDgn(0x1FFA8, None, None, absent="reserved by the document"),
    ]
    report = check_database(db, document)
    assert not report.ok
    assert [(m.entry.dgn, m.reason, m.explained) for m in report.missing] == [
        (0x1FFF3, f"{NOT_YET} (RV-C 6.11.4)", False),
        (0x1FFA8, "reserved by the document", True),
    ]
    assert report.without_source == ("TP_CONNECTION_MANAGEMENT",)
    assert report.not_in_document == ("MADE_UP_STATUS",)
    assert report.renamed == (("TP_CONNECTION_MANAGEMENT", "INITIAL_PACKET"),)
    text = render_report(report)
    assert "0x1FFF3  CHASSIS_MOBILITY_COMMAND" in text and "NOT OK" in text
    # once the command is there and every DGN has a source, only reasoned absences remain: OK
    passing = check_database(db, [document[0], document[3]])
    assert passing.missing[0].explained and passing.without_source == ("TP_CONNECTION_MANAGEMENT",)
    assert not passing.ok


def test_check_on_the_packaged_database(db: SpecDatabase, document: list[DocumentDgn]) -> None:
    report = check_database(db, document)
    carried = {spec.dgn & 0x3FF00 if (spec.dgn >> 8) & 0xFF < 0xF0 else spec.dgn for spec in db}
    expected_missing = {e.dgn for e in document
                        if (e.dgn & 0x3FF00 if (e.dgn >> 8) & 0xFF < 0xF0 else e.dgn) not in carried}
    assert {m.entry.dgn for m in report.missing} == expected_missing
    assert all(m.reason for m in report.missing)
    assert set(report.without_source) == {spec.name for spec in db if not spec.source}
    assert report.ok == (all(m.explained for m in report.missing) and not report.without_source
                         and not report.not_in_document)


def test_the_packaged_database_carries_every_dgn_of_the_document(db: SpecDatabase,
                                                                 document: list[DocumentDgn]) -> None:
    report = check_database(db, document)
    assert [m.entry.name for m in report.missing if not m.explained] == []
    assert report.without_source == () and report.not_in_document == ()
    assert report.ok


def test_spec_check_command(db: SpecDatabase) -> None:
    result = run_cli("spec", "check", "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 0 and report["ok"]
    assert report["database_dgns"] == len(db) and report["document_dgns"] > 300
    assert all(entry["reason"] for entry in report["missing"])
    text = run_cli("spec", "check")
    assert text.stdout.startswith(f"{report['document_dgns']} DGNs in the RV-C document, {len(db)} in the database")
