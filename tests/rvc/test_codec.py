"""Decoding and encoding: values, special values, odd lengths, errors and round trips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coachiq.rvc.codec import Codec, Decoded, EncodeError, decoded_to_json
from coachiq.rvc.decoders import compile_dgn
from coachiq.rvc.spec import SpecDatabase
from coachiq.rvc.spec_load import load_database

_SPEC = """\
family: testing
dgns:
  - dgn: 0x1FEDA
    name: TEST_DIMMER_STATUS
    kind: status
    priority: 6
    length: 8
    instance: instance
    description: A dimmer-like status for codec tests.
    fields:
      - {name: instance, byte: 0}
      - {name: brightness, byte: 2, scale: 0.5, unit: "%", max: 100}
      - {name: lock, byte: 3, width: 2, values: {0: unlocked, 1: locked}}
      - {name: mode, byte: 3, bit: 2, width: 2, values: {0: auto, 1: manual, 3: unknown}}
      - {name: voltage, byte: 4, width: 16, scale: 0.05, unit: V}
      - {name: temperature, byte: 6, width: 16, scale: 0.03125, offset: -273, unit: degC}
    samples:
      - payload: "01 FF C8 FD 00 01 20 25"
        values: {instance: 1, brightness: 100.0, lock: locked, mode: unknown, voltage: 12.8,
                 temperature: 24.0}
  - dgn: 0x1FEDB
    name: TEST_COMMAND
    kind: command
    length: 8
    confirmed_by: TEST_DIMMER_STATUS
    description: Signed, wide and text fields.
    fields:
      - {name: offset_value, byte: 0, type: sint, scale: 0.1, unit: A}
      - {name: current, byte: 1, width: 32, scale: 0.001, offset: -2000000, unit: A}
      - {name: tag, byte: 5, width: 16, type: ascii}
      - {name: blob, byte: 7, type: bytes}
    samples:
      - payload: "F6 E8 97 35 77 48 49 AB"
        values: {offset_value: -1.0, current: 1.0, tag: HI, blob: "AB"}
  - dgn: 0xFEEB
    name: TEST_TEXT
    kind: status
    length: variable
    max_length: 40
    description: Variable-length text after a fixed byte.
    fields:
      - {name: kind, byte: 0, special: none}
      - {name: text, byte: 1, width: 312, type: ascii}
    samples:
      - payload: "07 41 2A 42 2A"
        values: {kind: 7, text: "A*B*"}
"""


@pytest.fixture(scope="module")
def test_codec(tmp_path_factory: pytest.TempPathFactory) -> Codec:
    folder: Path = tmp_path_factory.mktemp("spec")
    (folder / "testing.yaml").write_text(_SPEC)
    return Codec(load_database(folder))


def test_decode_values_units_and_instance(test_codec: Codec) -> None:
    decoded = test_codec.decode(0x1FEDA, bytes.fromhex("01FFC8FD00012025"))
    assert decoded.known and decoded.name == "TEST_DIMMER_STATUS" and decoded.instance == 1
    assert decoded.values == {"instance": 1, "brightness": 100.0, "lock": "locked", "mode": "unknown",
                              "voltage": 12.8, "temperature": 24.0}
    assert decoded.raw == {"lock": 1, "mode": 3}
    assert decoded.special == {}
    assert decoded.errors == ()
    assert decoded.units == {"brightness": "%", "voltage": "V", "temperature": "degC"}


def test_scaled_values_are_clean_floats_and_unscaled_stay_int(test_codec: Codec) -> None:
    decoded = test_codec.decode(0x1FEDA, bytes.fromhex("05FF03F0FD00C025"))
    assert decoded.values["voltage"] == 12.65 and repr(decoded.values["voltage"]) == "12.65"
    assert decoded.values["brightness"] == 1.5
    assert isinstance(decoded.values["instance"], int)
    assert decoded.values["temperature"] == 29.0


def test_special_values(test_codec: Codec) -> None:
    decoded = test_codec.decode(0x1FEDA, bytes.fromhex("FFFFFEFEFFFF00FB"))
    assert decoded.values["instance"] is None and decoded.instance is None
    assert decoded.values["brightness"] is None
    assert decoded.values["lock"] is None  # 2 bits: 2 is error
    assert decoded.values["mode"] == "unknown"  # 3 is a label here, so it is data
    assert decoded.values["voltage"] is None and decoded.values["temperature"] is None
    assert decoded.special == {"instance": "not_available", "brightness": "error", "lock": "error",
                               "voltage": "not_available", "temperature": "reserved"}
    assert decoded.raw == {"instance": 0xFF, "brightness": 0xFE, "lock": 2, "mode": 3, "voltage": 0xFFFF,
                           "temperature": 0xFB00}


def test_shared_empty_special_cannot_be_mutated(test_codec: Codec) -> None:
    decoded = test_codec.decode(0x1FEDA, bytes.fromhex("01FFC8FD00012025"))
    with pytest.raises(TypeError):
        decoded.special["x"] = "error"  # type: ignore[index]


def test_signed_wide_text_and_bytes(test_codec: Codec) -> None:
    payload = bytes.fromhex("F6E8973577484 9AB".replace(" ", ""))
    decoded = test_codec.decode(0x1FEDB, payload)
    assert decoded.values == {"offset_value": -1.0, "current": 1.0, "tag": "HI", "blob": b"\xab"}
    assert test_codec.encode_decoded(decoded) == payload


def test_variable_length(test_codec: Codec) -> None:
    decoded = test_codec.decode(0xFEEB, b"\x07A*B*")
    assert decoded.values == {"kind": 7, "text": "A*B*"} and decoded.errors == ()
    assert test_codec.encode_decoded(decoded) == b"\x07A*B*"
    assert test_codec.encode("TEST_TEXT", {"kind": 1, "text": "make*model*"}) == b"\x01make*model*"
    short = test_codec.decode(0xFEEB, b"")
    assert short.values == {} and short.errors == ("payload is 0 bytes, TEST_TEXT needs 1; missing: kind, text",)
    long = test_codec.decode(0xFEEB, bytes(45))
    assert long.errors == ("payload is 45 bytes, TEST_TEXT has 40 (5 extra)",)


def test_unknown_dgn(test_codec: Codec) -> None:
    decoded = test_codec.decode(0x1ABCD, b"\x01\x02")
    assert not decoded.known
    assert decoded.name is None and decoded.values == {} and decoded.payload == b"\x01\x02"
    assert decoded.errors == ("unknown DGN 0x1ABCD",)


def test_short_payload_decodes_what_fits(test_codec: Codec) -> None:
    decoded = test_codec.decode(0x1FEDA, bytes.fromhex("01FFC8"))
    assert decoded.values == {"instance": 1, "brightness": 100.0}
    assert decoded.errors == (
        "payload is 3 bytes, TEST_DIMMER_STATUS needs 8; missing: lock, mode, voltage, temperature",)
    assert decoded.raw == {} and decoded.special == {}


def test_long_payload_reports_extra(test_codec: Codec) -> None:
    decoded = test_codec.decode(0x1FEDA, bytes.fromhex("01FFC8FD00012025AABB"))
    assert decoded.values["temperature"] == 24.0
    assert decoded.errors == ("payload is 10 bytes, TEST_DIMMER_STATUS has 8 (2 extra)",)


def test_bytearray_payload_is_accepted(test_codec: Codec) -> None:
    decoded = test_codec.decode(0x1FEDA, bytearray.fromhex("01FFC8FD00012025"))
    assert decoded.payload == bytes.fromhex("01FFC8FD00012025") and type(decoded.payload) is bytes


def test_encode_defaults_to_not_available(test_codec: Codec) -> None:
    payload = test_codec.encode("TEST_DIMMER_STATUS", {"instance": 2, "brightness": 50, "lock": "unlocked"})
    assert payload == bytes.fromhex("02FF64FCFFFFFFFF")
    assert test_codec.encode(0x1FEDA, {"brightness": None}) == b"\xff" * 8


def test_encode_keeps_base_bits(test_codec: Codec) -> None:
    base = bytes.fromhex("01000000000000F0")
    assert test_codec.encode(0x1FEDA, {"mode": "manual"}, base=base) == bytes.fromhex("01000004000000F0")


def test_encode_enum_accepts_raw_int(test_codec: Codec) -> None:
    assert test_codec.encode(0x1FEDA, {"lock": 1, "mode": 2})[3] == 0b11111001


def test_encode_raw_for_special(test_codec: Codec) -> None:
    assert test_codec.encode(0x1FEDA, {}, raw={"brightness": 0xFE})[2] == 0xFE


def test_encode_errors(test_codec: Codec) -> None:
    with pytest.raises(EncodeError, match=r"^brightness=130 is out of range: allowed 0\.\.100 %$") as info:
        test_codec.encode(0x1FEDA, {"brightness": 130})
    assert info.value.field == "brightness" and info.value.value == 130
    with pytest.raises(EncodeError, match=r"voltage=-1 is out of range: allowed 0\.\.3212\.75 V"):
        test_codec.encode(0x1FEDA, {"voltage": -1})
    with pytest.raises(EncodeError, match="lock='open' is not a label: allowed unlocked, locked"):
        test_codec.encode(0x1FEDA, {"lock": "open"})
    with pytest.raises(EncodeError, match="speed=1 is not a field of TEST_DIMMER_STATUS"):
        test_codec.encode(0x1FEDA, {"speed": 1})
    with pytest.raises(EncodeError, match="has the wrong type"):
        test_codec.encode(0x1FEDA, {"brightness": "full"})
    with pytest.raises(EncodeError, match="tag='HELLO' is too long"):
        test_codec.encode(0x1FEDB, {"tag": "HELLO"})
    with pytest.raises(KeyError, match="unknown DGN 0x1ABCD"):
        test_codec.encode(0x1ABCD, {})


def test_limits_apply_to_commands_but_not_to_round_trips(test_codec: Codec) -> None:
    decoded = test_codec.decode(0x1FEDA, bytes.fromhex("01FFFAFD00012025"))
    assert decoded.values["brightness"] == 125.0  # above max: a reading, not a command
    assert test_codec.encode_decoded(decoded) == decoded.payload


def test_decoded_to_json(test_codec: Codec) -> None:
    decoded = test_codec.decode(0x1FEDB, bytes.fromhex("F6E8973577484 9FF".replace(" ", "")))
    line = decoded_to_json(decoded, 0x19FEDB80, 12.5)
    assert line == {
        "timestamp": 12.5, "can_id": 0x19FEDB80, "priority": 6, "source_address": 0x80, "dgn": 0x1FEDB,
        "name": "TEST_COMMAND", "instance": None,
        "values": {"offset_value": -1.0, "current": 1.0, "tag": "HI", "blob": "FF"},
        "units": {"offset_value": "A", "current": "A"}, "raw": {}, "errors": [],
    }
    json.dumps(line)
    assert json.loads(json.dumps(decoded.to_json()))["payload"] == "F6E897357748 49FF".replace(" ", "")


def test_decoded_equality_and_repr(test_codec: Codec) -> None:
    first = test_codec.decode(0x1FEDA, bytes.fromhex("01FFC8FD00012025"))
    second = test_codec.decode(0x1FEDA, bytes.fromhex("01FFC8FD00012025"))
    assert first == second
    assert "TEST_DIMMER_STATUS" in repr(first)
    built = Decoded(0x1FEDA, "TEST_DIMMER_STATUS", 1, dict(first.values), {}, {"lock": 1, "mode": 3}, (),
                    first.payload)
    assert built == first


def test_packaged_dm_rv(codec: Codec) -> None:
    decoded = codec.decode(0x1FECA, bytes.fromhex("114000014583FFF0"))
    assert decoded.values["fmi"] == "open_circuit"
    spn = decoded.values["spn_msb"] * 2048 + decoded.values["spn_isb"] * 8 + decoded.values["spn_lsb"]  # type: ignore[operator]
    assert spn == 10


def test_compiled_decoder_is_generated_once(db: SpecDatabase) -> None:
    spec = db.get(0x1FECA)
    assert spec is not None
    compiled = compile_dgn(spec)
    first = compiled.fn
    assert compiled.fn is first
    assert first(bytes(8), bytes(8)).name == spec.name
    assert "def _decode" in compiled.source
