"""The raw-frame allow-list, with frames worked out by hand from the RV-C document (rev 2023-11).

DGN bits (section 3.2): bit 17 reserved, bit 16 data page, then PDU format and PDU specific; below
PDU format 0xF0 the PDU specific byte is the destination. DC_DIMMER_COMMAND_2 (6.24.6): byte 0 instance
(0xFF: group command), byte 1 group (0xFF: not a group command), byte 2 level, byte 3 command, byte 4
duration, byte 5 bits 0-1 interlock.
"""

from __future__ import annotations

import pytest

from coachiq.rvc.spec_load import load_database
from coachiq.state.raw_frames import RawFramePolicy

LIGHT, SLIDE_MOTOR = 12, 40


@pytest.fixture(scope="module")
def policy() -> RawFramePolicy:
    return RawFramePolicy.for_coach(load_database(), lights=[LIGHT, SLIDE_MOTOR], other_outputs=[SLIDE_MOTOR])


@pytest.mark.parametrize(("dgn", "data", "destination"), [
    (0x1FEDA, bytes.fromhex("0CFFC8FCFF0500FF"), None),  # DC_DIMMER_STATUS_3: a status broadcast
    (0x1FFB7, bytes.fromhex("0164FFFFFFFFFFFF"), None),  # TANK_STATUS
    (0xEA00, bytes.fromhex("DAFE01"), 0x61),  # REQUEST for 0x1FEDA: DA FE 01 is the DGN, low byte first
    (0x1FEDB, bytes.fromhex("0CFFC800FF00FFFF"), None),  # dimmer command: light 12, set level 100 %
    (0x1FEDB, bytes.fromhex("0CFFC813FF00FFFF"), None),  # ... ramp up (13h)
])
def test_frames_that_cannot_move_reset_or_reconfigure_are_allowed(policy: RawFramePolicy, dgn: int, data: bytes,
                                                                   destination: int | None) -> None:
    assert policy.refusal(dgn, data, destination) is None


@pytest.mark.parametrize(("dgn", "data", "words"), [
    (0x3FEDB, bytes.fromhex("0CFFC800FF00FFFF"), "reserved bit"),
    (0x0FEDB, bytes.fromhex("0CFFC800FF00FFFF"), "not on the allow-list"),  # data page 0: another DGN
    (0x1EF61, bytes(8), "low byte"),
    (0x1FEDB, bytes.fromhex("28FFC801FF00FFFF"), "not a light"),  # instance 40: the slide's motor
    (0x1FEDB, bytes.fromhex("FFFFC800FF00FFFF"), "group"),
    (0x1FEDB, bytes.fromhex("0C02C800FF00FFFF"), "group"),
    (0x1FEDB, bytes.fromhex("0CFFC821FF00FFFF"), "switches or dims"),  # 21h: lock
    (0x1FEDB, bytes.fromhex("0CFFC800FF01FFFF"), "interlock"),
    (0x1FEDB, bytes.fromhex("0CFF"), "8 bytes"),
    (0x17F00, bytes(8), "network management"),  # GENERAL_RESET
    (0x17C00, bytes(8), "network management"),  # INSTANCE_ASSIGNMENT
    (0xEE00, bytes(8), "network management"),  # ADDRESS_CLAIMED
    (0xEC00, bytes(8), "transport"),
    (0xEB00, bytes(8), "transport"),
    (0x1FFF4, bytes(8), "chassis"),  # CHASSIS_MOBILITY_STATUS: the interlocks read it
    (0x1FFE7, bytes(8), "allow-list"),  # SLIDE_COMMAND
    (0xEA00, bytes(8), "3-byte"),
    (0x40000, bytes(8), "18-bit"),
])
def test_everything_else_is_refused_with_the_reason(policy: RawFramePolicy, dgn: int, data: bytes,
                                                    words: str) -> None:
    reason = policy.refusal(dgn, data, None)
    assert reason is not None and words in reason, reason
