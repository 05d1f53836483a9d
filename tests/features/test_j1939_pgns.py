"""The j1939 feature's definitions: every hand-worked sample decodes to its values and encodes back,
and DM1 payloads (single frame and BAM-sized) give their lamps and codes."""

from __future__ import annotations

import pytest

from coachiq.features.j1939 import load_database
from coachiq.features.j1939.dm1 import TroubleCode, parse_dm1
from coachiq.rvc import spec_load
from coachiq.rvc.codec import Codec
from coachiq.rvc.spec import DgnSpec, Sample

_DB = load_database(keep_samples_and_notes=True)
_CASES = [pytest.param(spec, sample, id=f"{spec.name}-{index + 1}")
          for spec in _DB for index, sample in enumerate(spec.samples)]


def test_the_groups_the_chassis_needs_are_defined_with_their_public_numbers() -> None:
    assert {spec.name: spec.dgn for spec in _DB} == {
        "EEC1": 61444, "ETC2": 61445, "HOURS": 65253, "ET1": 65262, "EFL_P1": 65263, "CCVS1": 65265,
        "LFE1": 65266, "VEP1": 65271, "DD1": 65276}
    for spec in _DB:
        assert spec.source is not None and spec.source.startswith("J1939DA 2018, PGN "), spec.name
        assert str(spec.dgn) in spec.source, spec.name


def test_no_group_collides_with_the_rvc_database() -> None:
    rvc = spec_load.load_database(keep_samples_and_notes=False)
    assert not {spec.dgn for spec in _DB} & {spec.dgn for spec in rvc}


@pytest.mark.parametrize(("spec", "sample"), _CASES)
def test_sample_decodes_to_its_values_and_back(spec: DgnSpec, sample: Sample) -> None:
    codec = Codec(_DB)
    decoded = codec.decode(spec.dgn, sample.payload)
    assert decoded.errors == () and decoded.name == spec.name
    for field in spec.fields:
        got, want = decoded.values[field.name], sample.values[field.name]
        if isinstance(want, float) or isinstance(got, float):
            assert got == pytest.approx(want, abs=1e-9), f"{spec.name}.{field.name}"
        else:
            assert got == want, f"{spec.name}.{field.name}"
    assert codec.encode(spec.dgn, decoded.values) == sample.payload


def test_every_group_has_samples() -> None:
    assert all(spec.samples for spec in _DB)


def test_dm1_single_frame_with_one_code() -> None:
    # byte 0 = 0x04 = 00 00 01 00: amber warning lamp on; SPN 0x0064 = 100, byte 4 = 0x01: FMI 1, SPN
    # bits 16-18 = 0; byte 5 = 0x03: 3 occurrences; bytes 6-7 padding
    dm1 = parse_dm1(bytes.fromhex("04FF640001 03FFFF".replace(" ", "")))
    assert dm1.lamps == {"protect": "off", "amber_warning": "on", "red_stop": "off", "malfunction": "off"}
    assert dm1.codes == (TroubleCode(100, 1, 3),) and dm1.errors == ()


def test_dm1_without_codes() -> None:
    dm1 = parse_dm1(bytes.fromhex("00FF00000000FFFF"))
    assert dm1.codes == () and dm1.lamps["red_stop"] == "off"


def test_dm1_of_three_codes_as_a_bam_reassembles_it() -> None:
    # 14 bytes, so it travels as a BAM: byte 0 = 0x50 = 01 01 00 00: malfunction (bits 6-7) and red stop
    # (bits 4-5) lamps on. Code 1: 6E 00 = SPN 110, byte 0x00: FMI 0, byte 0x02: twice.
    # Code 2: 5C 00, byte 0xEC = 111 01100: SPN bits 16-18 = 7, FMI 12: SPN = 7 x 65536 + 0x5C = 458844; once.
    # Code 3: B3 0C = SPN 3251, byte 0x1F: FMI 31, byte 0x7F: count 127 = not available.
    payload = bytes.fromhex("50FF" "6E000002" "5C00EC01" "B30C1F7F")
    dm1 = parse_dm1(payload)
    assert dm1.lamps["red_stop"] == "on" and dm1.lamps["malfunction"] == "on" and dm1.lamps["amber_warning"] == "off"
    assert dm1.codes == (TroubleCode(110, 0, 2), TroubleCode(458844, 12, 1), TroubleCode(3251, 31, None))


@pytest.mark.parametrize("payload", [b"", b"\x00", bytes.fromhex("00FF6E000002AA")])
def test_malformed_dm1_is_reported_not_raised(payload: bytes) -> None:
    dm1 = parse_dm1(payload)
    assert dm1.errors or dm1.codes == ()
