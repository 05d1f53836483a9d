"""J1939-81 address claim: the pure state machine, and two claimers contending on one virtual bus."""

from __future__ import annotations

import time

import can
import pytest

from coachiq.can.address_claim import (
    CLAIM_SETTLE_S,
    NULL_ADDRESS,
    AddressClaimer,
    ClaimState,
    OutFrame,
    build_name,
)
from coachiq.can.interface import CanInterfaceService, CanTransmitError
from tests.can.conftest import house, received, wait_for

LOW = build_name(identity=1, manufacturer=100, function=130)
HIGH = build_name(identity=2, manufacturer=100, function=130)
# Bit 63 (arbitrary address capable) is the NAME's top bit: a fixed-address NAME beats any capable one.
LOW_FIXED = build_name(identity=1, manufacturer=100, function=130, arbitrary_address_capable=False)
HIGH_FIXED = build_name(identity=2, manufacturer=100, function=130, arbitrary_address_capable=False)


def claim_id(source: int) -> int:
    return (6 << 26) | (0xEEFF << 8) | source


def claim_from(name: int, source: int) -> tuple[int, bytes]:
    return claim_id(source), name.to_bytes(8, "little")


def test_claim_goes_out_and_settles_after_250_ms() -> None:
    claimer = AddressClaimer(LOW, 0x8C)
    frames = claimer.start(now=10.0)
    assert frames == [OutFrame(claim_id(0x8C), LOW.to_bytes(8, "little"))]
    assert claimer.state is ClaimState.CLAIMING
    assert not claimer.can_transmit(10.0 + CLAIM_SETTLE_S - 0.001)
    assert claimer.can_transmit(10.0 + CLAIM_SETTLE_S)
    assert claimer.state.value == "claimed"


def test_lower_name_wins_and_repeats_its_claim() -> None:
    claimer = AddressClaimer(LOW, 0x8C)
    claimer.start(0.0)
    answer = claimer.on_frame(*claim_from(HIGH, 0x8C), now=0.1)
    assert answer == [OutFrame(claim_id(0x8C), LOW.to_bytes(8, "little"))]
    assert claimer.address == 0x8C
    assert claimer.can_transmit(0.1 + CLAIM_SETTLE_S)


def test_loser_that_is_arbitrary_address_capable_moves() -> None:
    claimer = AddressClaimer(HIGH, 0x8C)
    claimer.start(0.0)
    claimer.on_frame(*claim_from(LOW, 128), now=0.05)  # 128 is taken too
    answer = claimer.on_frame(*claim_from(LOW - 1, 0x8C), now=0.1)
    assert claimer.address == 129
    assert answer == [OutFrame(claim_id(129), HIGH.to_bytes(8, "little"))]
    assert claimer.state is ClaimState.CLAIMING
    assert not claimer.can_transmit(0.2)  # the new claim settles 250 ms after it went out
    assert claimer.can_transmit(0.1 + CLAIM_SETTLE_S)


def test_loser_that_cannot_move_sends_cannot_claim_and_stays_silent() -> None:
    claimer = AddressClaimer(HIGH_FIXED, 0x8C)
    claimer.start(0.0)
    answer = claimer.on_frame(*claim_from(LOW_FIXED, 0x8C), now=0.1)
    assert answer == [OutFrame(claim_id(NULL_ADDRESS), HIGH_FIXED.to_bytes(8, "little"))]
    assert claimer.state is ClaimState.CANNOT_CLAIM
    assert not claimer.can_transmit(5.0)


def test_claimed_address_is_lost_to_a_later_lower_name() -> None:
    claimer = AddressClaimer(HIGH, 0x8C)
    claimer.start(0.0)
    assert claimer.can_transmit(1.0)
    claimer.on_frame(*claim_from(LOW, 0x8C), now=2.0)
    assert claimer.address != 0x8C
    assert not claimer.can_transmit(2.0)


def test_claims_for_other_addresses_and_own_echo_change_nothing() -> None:
    claimer = AddressClaimer(LOW, 0x8C)
    claimer.start(0.0)
    assert claimer.on_frame(*claim_from(HIGH, 0x90), now=0.1) == []
    assert claimer.on_frame(*claim_from(LOW, 0x8C), now=0.1) == []
    assert claimer.can_transmit(0.3)


def test_request_for_address_claimed_is_answered() -> None:
    claimer = AddressClaimer(LOW, 0x8C)
    assert claimer.on_frame((6 << 26) | (0xEAFF << 8) | 0x20, b"\x00\xee\x00", 0.0) == []  # not started
    claimer.start(0.0)
    global_request = claimer.on_frame((6 << 26) | (0xEAFF << 8) | 0x20, b"\x00\xee\x00", 1.0)
    to_us = claimer.on_frame((6 << 26) | (0xEA8C << 8) | 0x20, b"\x00\xee\x00", 1.0)
    to_other = claimer.on_frame((6 << 26) | (0xEA90 << 8) | 0x20, b"\x00\xee\x00", 1.0)
    other_dgn = claimer.on_frame((6 << 26) | (0xEAFF << 8) | 0x20, b"\xda\xfe\x01", 1.0)
    assert global_request == to_us == [OutFrame(claim_id(0x8C), LOW.to_bytes(8, "little"))]
    assert to_other == other_dgn == []


def test_cannot_claim_node_answers_requests_with_cannot_claim() -> None:
    claimer = AddressClaimer(HIGH_FIXED, 0x8C)
    claimer.start(0.0)
    claimer.on_frame(*claim_from(LOW_FIXED, 0x8C), now=0.1)
    answer = claimer.on_frame((6 << 26) | (0xEAFF << 8) | 0x20, b"\x00\xee\x00", 1.0)
    assert answer == [OutFrame(claim_id(NULL_ADDRESS), HIGH_FIXED.to_bytes(8, "little"))]


def test_fixed_address_names_rank_before_capable_ones() -> None:
    assert LOW_FIXED < HIGH_FIXED < LOW < HIGH


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="preferred address"):
        AddressClaimer(LOW, 254)
    with pytest.raises(ValueError, match="NAME"):
        AddressClaimer(1 << 64, 0x8C)


async def test_two_claimers_on_one_virtual_bus(channel: str, peer: can.BusABC) -> None:
    winner = CanInterfaceService([house(channel)], source_address=0x8C, node_name=LOW_FIXED)
    loser = CanInterfaceService([house(channel)], source_address=0x8C, node_name=HIGH_FIXED)
    await winner.start()
    await loser.start()
    try:
        await wait_for(lambda: loser.link("house").claimer.state is ClaimState.CANNOT_CLAIM)
        await wait_for(lambda: winner.link("house").claimer.state is not ClaimState.CLAIMING, timeout=2)
        assert winner.link("house").claimer.can_transmit(time.monotonic())
        assert winner.link("house").claimer.address == 0x8C
        health = await loser.health()
        assert health.status == "degraded" and "cannot claim" in health.detail
        with pytest.raises(CanTransmitError, match="no source address claimed"):
            await loser.send("house", 0x1FEDA, b"\x01" * 8)
        assert await winner.send("house", 0x1FEDA, b"\x01" * 8) & 0xFF == 0x8C
        claims = await received(peer, 0.2, pf=0xEE)
        sources = {m.arbitration_id & 0xFF for m in claims}
        assert sources == {0x8C, NULL_ADDRESS}
    finally:
        await loser.stop()
        await winner.stop()


async def test_arbitrary_capable_loser_moves_on_the_bus(channel: str) -> None:
    first = CanInterfaceService([house(channel)], source_address=0x8C, node_name=LOW)
    second = CanInterfaceService([house(channel)], source_address=0x8C, node_name=HIGH)
    await first.start()
    await second.start()
    try:
        await wait_for(lambda: second.link("house").claimer.address == 128)
        sent = await second.send("house", 0x1FEDA, b"\x02" * 8)
        assert sent & 0xFF == 128
    finally:
        await second.stop()
        await first.stop()


async def test_no_transmit_until_the_claim_settled(channel: str, peer: can.BusABC) -> None:
    service = CanInterfaceService([house(channel)], source_address=0x8C, node_name=LOW)
    await service.start()
    try:
        await service.send("house", 0x1FEDA, b"\x03" * 8)
        claim, frame = await received(peer, 0.2)
        assert (claim.arbitration_id >> 16) & 0xFF == 0xEE
        assert frame.arbitration_id == (6 << 26) | (0x1FEDA << 8) | 0x8C
        assert frame.timestamp - claim.timestamp >= CLAIM_SETTLE_S - 0.01
    finally:
        await service.stop()


async def test_service_answers_a_request_on_the_bus(channel: str, peer: can.BusABC) -> None:
    service = CanInterfaceService([house(channel)], source_address=0x8C, node_name=LOW)
    await service.start()
    try:
        await received(peer, 0.1)
        peer.send(can.Message(arbitration_id=(6 << 26) | (0xEAFF << 8) | 0x20, data=b"\x00\xee\x00"))
        answers = await received(peer, 0.3, pf=0xEE)
        assert [m.arbitration_id & 0xFF for m in answers] == [0x8C]
        assert bytes(answers[0].data) == LOW.to_bytes(8, "little")
    finally:
        await service.stop()
