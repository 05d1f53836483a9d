"""A device's answer to a command (ACKNOWLEDGMENT, RV-C 3.2.4.4; codes in Table 7.5).

The answering device here is a test node on the virtual bus, and every answer is built by hand from the
document's layout: byte 0 the code, byte 1 the answering device's instance (0xFF: none), byte 2 its
instance bank in bits 0-3 (0xF: none) and reserved bits, byte 3 reserved, byte 4 the address whose command
is answered, bytes 5-7 the command's DGN, least significant byte first. The identifier is DGN 0xE800 with
the commander's address in its PS byte (or 0xFF, which older devices use), priority 6.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import can
import pytest

from coachiq.entities.model import Outcome
from tests.entities.conftest import Coach, start_coach, stop_coach, stop_sim, wait_for

LIGHT = "light.bedroom_ceiling"  # a dimmer load, instance 5, on the lighting node 0x60
NODE = 0x60
DIMMER_COMMAND = 0x1FEDB  # DC_DIMMER_COMMAND_2: the command a dimmer load gets
TIMEOUT_S = 0.6

Answer = Callable[[int, int], list[tuple[int, bytes]]]  # (server address, instance) -> (identifier, payload)


def ack_id(destination: int, source: int = NODE) -> int:
    """Priority 6, DGN 0xE800 with the destination in PS, the answering node's source address."""
    return (6 << 26) | (0xE8 << 16) | (destination << 8) | source


def answer(code: int, instance: int, commander: int, dgn: int = DIMMER_COMMAND) -> bytes:
    """An answer's eight bytes, by the document's layout (no instance bank: 0xF plus reserved bits 0xF)."""
    return bytes([code, instance, 0xFF, 0xFF, commander, dgn & 0xFF, (dgn >> 8) & 0xFF, dgn >> 16])


class Node:
    """A node that answers each DC_DIMMER_COMMAND_2 from the server with what `answers` gives."""

    def __init__(self, channel: str, answers: Answer) -> None:
        self.bus = can.Bus(interface="virtual", channel=channel, receive_own_messages=False)
        self.answers = answers
        self.commands = 0
        self.notifier = can.Notifier(self.bus, [self._on_message])

    def _on_message(self, message: can.Message) -> None:
        if not message.is_extended_id or (message.arbitration_id >> 8) & 0x3FFFF != DIMMER_COMMAND:
            return
        self.commands += 1
        for arbitration_id, data in self.answers(message.arbitration_id & 0xFF, message.data[0]):
            self.bus.send(can.Message(arbitration_id=arbitration_id, data=data, is_extended_id=True))

    def close(self) -> None:
        self.notifier.stop()
        self.bus.shutdown()


@pytest.fixture
async def quiet_coach(tmp_path: Path) -> AsyncIterator[Coach]:
    """The core on a coach whose simulated devices have gone quiet: only the test node answers."""
    coach = await start_coach(tmp_path, command_timeout=TIMEOUT_S)
    await stop_sim(coach.sim)
    yield coach
    await stop_coach(coach)


async def command(coach: Coach) -> tuple[Any, float]:
    began = time.monotonic()
    result = await coach.core.entities.execute(LIGHT, "turn_on", {}, actor="test")
    return result, time.monotonic() - began


async def test_a_refusal_ends_the_wait_with_the_device_reason_every_time(quiet_coach: Coach) -> None:
    ours = quiet_coach.core.can.address_on("house")
    assert ours is not None
    node = Node(quiet_coach.channel, lambda server, instance: [(ack_id(server), answer(3, instance, server))])
    try:
        # The same answer twice: the second is a new answer, not a repeat to filter out.
        for _ in range(2):
            result, took = await command(quiet_coach)
            assert result.outcome is Outcome.REFUSED
            assert result.reason == "the device refused turn_on: its conditions do not allow it now"
            assert took < TIMEOUT_S
    finally:
        node.close()
    assert node.commands == 2
    await quiet_coach.core.entities.settle()
    audit = await quiet_coach.core.persistence.audit_entries(target=LIGHT)
    assert [e.result for e in audit[:2]] == ["refused", "refused"]


async def test_an_answer_sent_to_everyone_counts_and_command_specific_codes_are_named(quiet_coach: Coach) -> None:
    codes = iter([0x80, 9])
    node = Node(quiet_coach.channel, lambda server, instance: [(ack_id(0xFF), answer(next(codes), 0xFF, server))])
    try:
        own, _ = await command(quiet_coach)
        unknown, _ = await command(quiet_coach)
    finally:
        node.close()
    assert own.outcome is Outcome.REFUSED and own.reason.endswith("a reason of its own for this command (code 128)")
    assert unknown.outcome is Outcome.REFUSED and unknown.reason.endswith("an unknown reason (code 9)")


async def test_answers_to_someone_else_or_about_something_else_change_nothing(quiet_coach: Coach) -> None:
    def others(server: int, instance: int) -> list[tuple[int, bytes]]:
        someone = (server + 1) & 0xFF
        return [
            (ack_id(someone), answer(3, instance, someone)),  # to another node, about its command
            (ack_id(server), answer(3, instance, someone)),  # about another address's command
            (ack_id(server), answer(3, instance, server, dgn=0x1FEF2)),  # about another DGN (AWNING_COMMAND)
            (ack_id(server), answer(3, (instance + 1) & 0xFF, server)),  # from another instance
            (ack_id(server, source=NODE + 1), answer(3, instance, server)),  # from a node the light is not on
            (ack_id(server), answer(0, instance, server)),  # a positive answer: only the echo confirms
        ]

    node = Node(quiet_coach.channel, others)
    try:
        result, took = await command(quiet_coach)
    finally:
        node.close()
    assert result.outcome is Outcome.TIMED_OUT, result.reason
    assert took >= TIMEOUT_S


async def test_needs_more_time_lengthens_the_wait_within_a_limit(quiet_coach: Coach) -> None:
    node = Node(quiet_coach.channel, lambda server, instance: [(ack_id(server), answer(7, instance, server))])
    try:
        result, took = await command(quiet_coach)
    finally:
        node.close()
    assert result.outcome is Outcome.TIMED_OUT
    # Three times the usual wait, and no more.
    assert 3 * TIMEOUT_S <= took < 4 * TIMEOUT_S, took
    assert "within 1.8 s" in result.reason


async def test_a_refused_motion_is_stopped_and_not_repeated(tmp_path: Path) -> None:
    """The simulated leveling controller refuses to move with an active fault (its "other" lockout, which
    the server does not gate on) and answers with code 3; the server then sends a stop, and stops repeating
    the held frame."""
    coach = await start_coach(tmp_path)
    try:
        sim, core = coach.sim, coach.core
        await wait_for(lambda: core.state.vehicle_state() == "parked")
        sim.set_fault("jack.leveling", spn=1, fmi=7, active=True)  # mechanical system not responding
        await wait_for(lambda: core.entities.entities["jack.leveling"].state.values["lockouts"] == ["other"])
        result = await core.entities.execute("jack.leveling", "extend", {"jack": "left_front", "duration_s": 10},
                                             actor="test", client_id="page")
        assert result.outcome is Outcome.REFUSED, result
        assert result.reason == "the device refused extend: its conditions do not allow it now"
        await wait_for(lambda: "jack.leveling" not in core.entities.motions, timeout=3)
        await core.entities.settle()

        async def stopped() -> bool:
            audit = await core.persistence.audit_entries(target="jack.leveling")
            return any(e.actor == "safety" and e.action == "stop" and e.reason.startswith("the device refused extend")
                       for e in audit)

        deadline = asyncio.get_running_loop().time() + 5
        while not await stopped():
            assert asyncio.get_running_loop().time() < deadline, "no stop followed the refusal"
            await asyncio.sleep(0.05)
        assert sim.devices["jack.leveling"].moving == {}  # type: ignore[attr-defined]
    finally:
        await stop_coach(coach)
