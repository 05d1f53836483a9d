"""DM_RV and DM1 decoding against samples worked out by hand from the RV-C document and J1939-73."""

from __future__ import annotations

from coachiq.can.address_claim import build_name
from coachiq.features.diagnostics.codes import (
    Protocol,
    decode_dm_rv,
    decode_name,
    dsa_name,
    fmi_description,
    parse_dm1,
    spn_description,
)


def test_dm_rv_sample_of_the_document() -> None:
    # RV-C 3.2.5.5 example: SPN bytes 01h 03h C0h -> single-instance SPN 0000 0001 0000 0011 110b = 2078;
    # multiple-instance reading: instance 3, SPN 001 110b = 14. Byte 0 = 0x11: yellow lamp 01b, bits 0-1 01b.
    report = decode_dm_rv(bytes([0x11, 84, 0x01, 0x03, 0xC0 | 7, 0x83, 0xFF, 0xFF]))
    assert report is not None
    assert report.spn == 2078 and report.fmi == 7 and report.dsa == 84
    assert report.spn_instance == (3, 14)
    assert report.yellow_lamp and not report.red_lamp and report.active
    assert report.occurrence_count == 3 and report.dsa_extension is None and report.bank is None


def test_dm_rv_with_lamps_off_reports_no_fault_and_short_payloads_are_refused() -> None:
    report = decode_dm_rv(bytes([0x05, 64, 0, 0, 0, 0x7F, 0xFF, 0xFF]))
    assert report is not None and not report.active and report.occurrence_count is None
    red = decode_dm_rv(bytes([0x41, 64, 0, 0, 0x05, 1, 0xFF, 0xFF]))
    assert red is not None and red.red_lamp and not red.yellow_lamp
    assert decode_dm_rv(b"\x11\x40\x00") is None


def test_dm1_lists_every_code_and_spn_0_fmi_0_means_none() -> None:
    # J1939-73 DTC: SPN 100 (0x64), FMI 1, count 2 -> 64 00 01 02; SPN 0x12345 = 45 23 + (1 << 5), FMI 3.
    lamps, codes = parse_dm1(bytes([0x04, 0xFF, 0x64, 0x00, 0x01, 0x02, 0x45, 0x23, 0x23, 0x7F]))
    assert lamps["amber_warning"] and not lamps["red_stop"]
    assert [(c.spn, c.fmi, c.occurrence_count) for c in codes] == [(100, 1, 2), (0x12345, 3, None)]
    assert parse_dm1(bytes([0, 0xFF, 0, 0, 0, 0, 0xFF, 0xFF]))[1] == ()


def test_descriptions_come_from_the_tables_and_unknown_ones_are_none() -> None:
    assert fmi_description(22) == "Reverse polarity"
    assert fmi_description(20, Protocol.J1939) == "Data drifted high"
    assert fmi_description(25) is None
    assert spn_description(5) == "Node power supply" and spn_description(300) is None
    assert spn_description(5, Protocol.J1939) is None
    assert dsa_name(85) == "Slide room #2" and dsa_name(130) == "Awning" and dsa_name(10) is None


def test_name_fields_round_trip_with_the_address_claim_builder() -> None:
    name = build_name(identity=0x1234, manufacturer=0x99, function=130, function_instance=2, ecu_instance=1,
                      vehicle_system=5, vehicle_system_instance=3, industry_group=1)
    fields = decode_name(name)
    assert fields == {"identity": 0x1234, "manufacturer": 0x99, "ecu_instance": 1, "function_instance": 2,
                      "function": 130, "vehicle_system": 5, "vehicle_system_instance": 3, "industry_group": 1,
                      "arbitrary_address_capable": True}
