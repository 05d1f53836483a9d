"""Loading and validating the DGN database; SpecError messages for broken files."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from coachiq.rvc.spec import SpecDatabase, SpecError
from coachiq.rvc.spec_load import load_database
from coachiq.rvc.spec_yaml import parse_spec_document


def _status_entry() -> dict[str, Any]:
    return {
        "dgn": 0x1FEDA,
        "name": "TEST_STATUS",
        "kind": "status",
        "priority": 6,
        "length": 8,
        "instance": "instance",
        "confirmed_by": None,
        "description": "A status for tests.",
        "fields": [
            {"name": "instance", "byte": 0},
            {"name": "level", "byte": 2, "scale": 0.5, "unit": "%"},
            {"name": "mode", "byte": 3, "bit": 0, "width": 2, "values": {0: "off", 1: "on"}},
        ],
        "samples": [
            {"payload": "01 FF C8 FD FF FF FF FF", "values": {"instance": 1, "level": 100.0, "mode": "on"}},
        ],
    }


def _command_entry() -> dict[str, Any]:
    entry = _status_entry()
    entry.update(dgn=0x1FEDB, name="TEST_COMMAND", kind="command", confirmed_by="TEST_STATUS")
    return entry


def _write(folder: Path, name: str, dgns: list[dict[str, Any]], family: str = "testing") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump({"family": family, "dgns": dgns}, sort_keys=False))
    return path


def _load_error(folder: Path) -> str:
    with pytest.raises(SpecError) as info:
        load_database(folder)
    return str(info.value)


def test_packaged_database_loads(db: SpecDatabase) -> None:
    assert len(db) > 0
    dgns = [spec.dgn for spec in db]
    assert dgns == sorted(dgns)
    request = db.get(0xEA00)
    assert request is not None and request.name == "REQUEST"
    assert db.by_name("DM_RV") is db.get(0x1FECA)
    assert db.get(0x1ABCD) is None
    assert db.by_name("NO_SUCH_DGN") is None
    assert 0x1FECA in db


def test_packaged_database_loads_quickly() -> None:
    # About 0.15 s here without the parsed-file cache (docs/architecture.md); the bound is loose because
    # test machines are shared.
    start = time.perf_counter()
    load_database()
    assert time.perf_counter() - start < 1.0


def test_valid_files_load(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", [_status_entry()])
    _write(tmp_path, "b.yaml", [_command_entry()], family="other")
    db = load_database(tmp_path)
    assert len(db) == 2
    status = db.by_name("TEST_STATUS")
    assert status is not None
    assert status.family == "testing" and status.file == "a.yaml"
    assert status.instance_field == "instance"
    level = status.field("level")
    assert level is not None and level.scale == 0.5 and level.special
    command = db.by_name("TEST_COMMAND")
    assert command is not None and command.confirmed_by == "TEST_STATUS"


def test_document_attributes_load(tmp_path: Path) -> None:
    entry = _status_entry()
    entry.update(source="RV-C 6.15.2", broadcast={"min": 500, "normal": "on change", "max": 5000}, frames=1,
                 ack="none")
    _write(tmp_path, "a.yaml", [entry])
    spec = load_database(tmp_path).by_name("TEST_STATUS")
    assert spec is not None
    assert spec.source == "RV-C 6.15.2"
    assert spec.broadcast is not None
    assert (spec.broadcast.min, spec.broadcast.normal, spec.broadcast.max) == (500, "on change", 5000)
    assert spec.frames == 1 and spec.ack == "none"


def test_on_off_labels_stay_strings(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "family: testing\n"
        "dgns:\n"
        "  - dgn: 0x1FEDA\n"
        "    name: TEST_STATUS\n"
        "    kind: status\n"
        "    length: 1\n"
        "    description: On and off.\n"
        "    fields:\n"
        "      - {name: state, byte: 0, width: 2, values: {0: off, 1: on}}\n"
        "    samples:\n"
        "      - {payload: 'FD', values: {state: on}}\n"
    )
    spec = load_database(tmp_path).by_name("TEST_STATUS")
    assert spec is not None
    state = spec.field("state")
    assert state is not None and state.values == {0: "off", 1: "on"}
    assert spec.samples[0].values["state"] == "on"


def test_only_true_and_false_are_booleans_and_dates_stay_text() -> None:
    document = parse_spec_document(b"a: {0: no, 1: yes, 2: On, 3: OFF}\nb: [true, False]\nc: 2023-11-01\n"
                                   b"d: 0x1FEDA\ne: 1_000\nf: 0.5\ng: null\n", "a.yaml")
    assert document == {"a": {0: "no", 1: "yes", 2: "On", 3: "OFF"}, "b": [True, False], "c": "2023-11-01",
                        "d": 0x1FEDA, "e": 1000, "f": 0.5, "g": None}
    with pytest.raises(SpecError, match=r"a\.yaml: is not valid YAML"):
        parse_spec_document(b"a: [unclosed\n", "a.yaml")


def _mutated(change: Any) -> list[dict[str, Any]]:
    entry = copy.deepcopy(_status_entry())
    change(entry)
    return [entry]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda e: e.update(colour="red"), "a.yaml: DGN 0x1FEDA TEST_STATUS: unknown key(s) ['colour']"),
        (lambda e: e["fields"][1].update(scal=0.5), "field 'level': unknown key(s) ['scal']"),
        (lambda e: e.pop("samples"), "missing required key(s) ['samples']"),
        (lambda e: e.update(samples=[]), "every DGN has at least one sample"),
        (lambda e: e.update(kind="state"), "'kind' must be status, command or other"),
        (lambda e: e.update(name="test_status"), "'name' must be UPPER_SNAKE_CASE"),
        (lambda e: e["fields"][1].update(byte=0), "field 'level': overlaps field 'instance' at byte 0 bit 0"),
        (lambda e: e["fields"][2].update(bit=7), "field 'mode': bit field crosses a byte boundary"),
        (lambda e: e["fields"][1].update(width=16, bit=1), "field 'level': a field wider than 8 bits must start"),
        (lambda e: e["fields"][1].update(byte=8), "field 'level': 'byte' must be an integer 0..7"),
        (lambda e: e["fields"][1].update(name="instance"), "field 'instance': field name is used twice"),
        (lambda e: e["fields"][1].update(scale=-1), "field 'level': 'scale' must be a positive number"),
        (lambda e: e["fields"][2].update(values={0: "Off"}), "field 'mode': enumeration label 'Off'"),
        (lambda e: e["fields"][2].update(values={4: "big"}), "field 'mode': enumeration key 4 must be"),
        (lambda e: e["fields"][1].update(type="float"), "field 'level': 'type' must be uint, sint, ascii"),
        (lambda e: e["fields"][1].update(max=200), "field 'level': 'max' 200 is outside"),
        (lambda e: e.update(instance="number"), "'instance' must name one of the DGN's fields"),
        (lambda e: e.update(confirmed_by="TEST_STATUS"), "'confirmed_by' is only allowed on command DGNs"),
        (lambda e: e["samples"][0]["values"].pop("mode"), "sample #1: 'values' must list every field; "
                                                           "missing ['mode']"),
        (lambda e: e["samples"][0]["values"].update(speed=1), "names unknown field(s) ['speed']"),
        (lambda e: e["samples"][0].update(payload="01 FF"), "sample #1: payload is 2 bytes, the DGN's length is 8"),
        (lambda e: e["samples"][0].update(payload="zz"), "'payload' must be hex bytes"),
        (lambda e: e.update(length="variable"), "'max_length' must be an integer 1..1785"),
        (lambda e: e.update(source=""), "'source' must be a non-empty string"),
        (lambda e: e.update(broadcast={"min": 500, "typical": 1000}), "'broadcast' has unknown key(s) ['typical']"),
        (lambda e: e.update(broadcast={"min": -1}), "'broadcast.min' must be milliseconds"),
        (lambda e: e.update(frames=0), "'frames' must be a positive integer or \"variable\""),
        (lambda e: e.update(ack=3), "'ack' must be a non-empty string"),
    ],
)
def test_spec_errors_name_file_dgn_and_field(tmp_path: Path, change: Any, expected: str) -> None:
    _write(tmp_path, "a.yaml", _mutated(change))
    assert expected in _load_error(tmp_path)


def test_duplicate_dgn_across_files(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", [_status_entry()])
    other = _status_entry()
    other["name"] = "OTHER_STATUS"
    _write(tmp_path, "b.yaml", [other])
    message = _load_error(tmp_path)
    assert message.startswith("b.yaml: DGN 0x1FEDA OTHER_STATUS: is defined twice (also in a.yaml")


def test_duplicate_name(tmp_path: Path) -> None:
    other = _status_entry()
    other["dgn"] = 0x1FEDC
    _write(tmp_path, "a.yaml", [_status_entry(), other])
    assert "name is already used by DGN 0x1FEDA" in _load_error(tmp_path)


def test_confirmed_by_must_name_a_status_dgn(tmp_path: Path) -> None:
    command = _command_entry()
    command["confirmed_by"] = "MISSING_STATUS"
    _write(tmp_path, "a.yaml", [_status_entry(), command])
    assert "'confirmed_by' 'MISSING_STATUS' is not a status DGN" in _load_error(tmp_path)


def test_file_level_errors(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("family: testing\ndgns: []\n")
    assert _load_error(tmp_path) == "a.yaml: 'dgns' must be a non-empty list"
    (tmp_path / "a.yaml").write_text("family: testing\nversion: 2\ndgns: []\n")
    assert "unknown top-level key(s) ['version']" in _load_error(tmp_path)
    (tmp_path / "a.yaml").write_text("family: [unclosed\n")
    assert _load_error(tmp_path).startswith("a.yaml: is not valid YAML")


def test_ascii_field_rules(tmp_path: Path) -> None:
    entry = _status_entry()
    entry["fields"].append({"name": "label", "byte": 4, "bit": 1, "width": 16, "type": "ascii"})
    _write(tmp_path, "a.yaml", [entry])
    assert "field 'label': a field wider than 8 bits must start at bit 0" in _load_error(tmp_path)
    entry["fields"][-1] = {"name": "label", "byte": 4, "width": 12, "type": "ascii", "special": "none"}
    _write(tmp_path, "a.yaml", [entry])
    assert "field 'label': ascii fields start at bit 0 and have a width that is a multiple of 8" in _load_error(
        tmp_path)
