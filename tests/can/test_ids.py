"""29-bit identifiers: parse, compose and the hot-loop shortcut."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coachiq.can.ids import CanId, compose_id, dgn_and_source, is_pdu1, parse_id


def test_parse_pdu2_broadcast() -> None:
    # DC_DIMMER_STATUS_3 from address 0x80 at priority 6.
    can_id = parse_id(0x19FEDA80)
    assert can_id == CanId(priority=6, data_page=1, pf=0xFE, ps=0xDA, source_address=0x80, dgn=0x1FEDA,
                           destination=None)
    assert can_id.arbitration_id == 0x19FEDA80


def test_parse_pdu1_destination() -> None:
    # A request (0xEA00) from 0x44 to 0x80.
    can_id = parse_id(0x18EA8044)
    assert can_id.dgn == 0xEA00
    assert can_id.destination == 0x80
    assert can_id.source_address == 0x44
    assert can_id.priority == 6
    assert can_id.arbitration_id == 0x18EA8044


def test_compose_matches_parse() -> None:
    assert compose_id(0x1FEDA, 0x80) == 0x19FEDA80
    assert compose_id(0xEA00, 0x44, priority=6, destination=0x80) == 0x18EA8044
    assert compose_id(0xEA00, 0x44) == 0x18EAFF44  # PDU1 without destination goes to everyone
    assert compose_id(0x1FEDA, 0x80, priority=3) == 0x0DFEDA80


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"dgn": 0x40000, "source_address": 1}, "dgn"),
        ({"dgn": -1, "source_address": 1}, "dgn"),
        ({"dgn": 0x1FEDA, "source_address": 256}, "source_address"),
        ({"dgn": 0x1FEDA, "source_address": 1, "priority": 8}, "priority"),
        ({"dgn": 0xEA12, "source_address": 1}, "dgn"),
        ({"dgn": 0xEA00, "source_address": 1, "destination": 300}, "destination"),
        ({"dgn": 0x1FEDA, "source_address": 1, "destination": 5}, "destination"),
    ],
)
def test_compose_rejects_bad_arguments(kwargs: dict[str, int], argument: str) -> None:
    with pytest.raises(ValueError, match=argument):
        compose_id(**kwargs)


def test_parse_rejects_non_29_bit() -> None:
    with pytest.raises(ValueError, match="29-bit"):
        parse_id(1 << 29)


def test_is_pdu1() -> None:
    assert is_pdu1(0xEA00)
    assert is_pdu1(0x16F00)
    assert not is_pdu1(0x1FEDA)


@given(st.integers(min_value=0, max_value=(1 << 29) - 1))
def test_fast_path_agrees_with_parse(arbitration_id: int) -> None:
    can_id = parse_id(arbitration_id)
    assert dgn_and_source(arbitration_id) == (can_id.dgn, can_id.source_address)
    assert can_id.arbitration_id == arbitration_id


@given(st.integers(min_value=0, max_value=(1 << 29) - 1))
def test_compose_inverts_parse(arbitration_id: int) -> None:
    can_id = parse_id(arbitration_id)
    rebuilt = compose_id(can_id.dgn, can_id.source_address, can_id.priority, can_id.destination)
    assert rebuilt == arbitration_id
