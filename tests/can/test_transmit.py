"""The transmit path under load, cancellation and faults: the loop survives, stops go first, the gate holds."""

from __future__ import annotations

import asyncio
import uuid

import can
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coachiq.can.address_claim import ClaimState
from coachiq.can.interface import CanBusyError, CanInterfaceService, CanTransmitError, TransmitRefused
from coachiq.core.alerts import AlertManager, Priority
from coachiq.core.service import Status
from tests.can.conftest import FaultInjector, house, received, wait_for

DIMMER_STATUS = 0x1FEDA
DIMMER_COMMAND = 0x1FEDB


async def started(service: CanInterfaceService) -> CanInterfaceService:
    await service.start()
    # Our address claim stands once 250 ms pass without contention: wait until it does.
    await wait_for(lambda: all(link.claimer.state is ClaimState.CLAIMED for link in service.links.values()))
    return service


async def test_sends_cancelled_during_the_rate_limit_wait_do_not_end_the_loop(channel: str,
                                                                             peer: can.BusABC) -> None:
    # 300 sends of one broadcast frame, each given up after 20 ms (a client's timeout): most are cancelled
    # while the loop waits out the rate limit with them in hand.
    service = await started(CanInterfaceService([house(channel)], rate_limit_s=0.005))
    try:
        async def impatient(n: int) -> None:
            with pytest.raises((TimeoutError, CanTransmitError)):
                async with asyncio.timeout(0.02):
                    await service.send("house", DIMMER_STATUS, bytes([n % 256]) * 8, client=f"c{n % 20}")
                    raise TimeoutError  # sent in time: fine as well

        await asyncio.gather(*(impatient(n) for n in range(300)))
        async with asyncio.timeout(1.0):
            await service.send("house", DIMMER_STATUS, b"\x77" * 8)
        assert any(m.data[0] == 0x77 for m in await received(peer, 0.1))
        assert (await service.health()).status is Status.HEALTHY
    finally:
        await service.stop()


async def _cancel_while_sending(sends: list[tuple[int, float | None]]) -> None:
    channel = f"coachiq-prop-{uuid.uuid4().hex[:8]}"
    service = await started(CanInterfaceService([house(channel)], rate_limit_s=0.002))
    try:
        futures = []
        for number, (priority, _) in enumerate(sends):
            futures.append(service.submit("house", DIMMER_STATUS, bytes([number % 256]) + b"\xff" * 7,
                                          priority=priority, client=f"c{number % 40}", urgent=priority == 0))
        loop = asyncio.get_running_loop()
        began = loop.time()
        for future, (_, cancel_at) in sorted(zip(futures, sends, strict=True),
                                             key=lambda pair: pair[1][1] if pair[1][1] is not None else 1.0):
            if cancel_at is None:
                continue
            await asyncio.sleep(max(0.0, began + cancel_at - loop.time()))
            future.cancel()
        await asyncio.gather(*futures, return_exceptions=True)
        async with asyncio.timeout(1.0):
            await service.send("house", DIMMER_STATUS, b"\xa5" * 8)
        async with asyncio.timeout(1.0):
            await service.send("house", DIMMER_COMMAND, b"\x10" * 8, urgent=True)
        assert service.link("house").loop_restarts == 0
    finally:
        await service.stop()


@settings(max_examples=12, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 7), st.one_of(st.none(), st.floats(0.0, 0.05))), min_size=1,
                max_size=80))
def test_cancelling_sends_at_any_point_never_stops_the_loop(sends: list[tuple[int, float | None]]) -> None:
    # Priority 0 stands for a stop frame here (the stop lane); the others are client frames.
    asyncio.run(_cancel_while_sending(sends))


async def test_a_transmit_loop_that_dies_is_reported_alerted_and_restarted(channel: str,
                                                                          injector: FaultInjector) -> None:
    alerts = AlertManager()
    service = await started(CanInterfaceService([house(channel)], alerts=alerts, bus_factory=injector.factory))
    try:
        injector.send_raises = RuntimeError("injected: the driver broke")
        with pytest.raises(CanTransmitError):
            await service.send("house", DIMMER_STATUS, b"\x01" * 8)
        await wait_for(lambda: alerts.has_active(Priority.P1))
        assert "transmit loop" in alerts.active[0].message
        health = await service.health()
        assert health.status is Status.UNHEALTHY and "transmit loop" in health.detail
        injector.send_raises = None
        async with asyncio.timeout(1.0):
            await service.send("house", DIMMER_STATUS, b"\x02" * 8)
        await wait_for(lambda: not alerts.has_active(Priority.P1), timeout=5.0)
        assert (await service.health()).status is Status.HEALTHY
        assert service.link("house").loop_restarts == 1
    finally:
        await service.stop()


async def test_stop_lane_overtakes_a_full_queue_of_client_frames(channel: str, peer: can.BusABC) -> None:
    service = await started(CanInterfaceService([house(channel)], rate_limit_s=0.01))
    try:
        # One output's status a hundred times: a second of frames held back by its rate limit.
        flood = [service.submit("house", DIMMER_STATUS, b"\x05" + bytes([n]) * 7, priority=0, client=f"c{n}")
                 for n in range(100)]
        await wait_for(lambda: flood[0].done())  # the flood is flowing, held back by the rate limit
        stop = service.submit("house", DIMMER_COMMAND, b"\x10\xff\x00\x03\x00\xff\xff\xff", priority=6,
                              urgent=True)
        async with asyncio.timeout(0.05):
            await stop
        for future in flood:
            future.cancel()
        frames = await received(peer, 0.1)
        assert any(m.data[0] == 0x10 and (m.arbitration_id >> 8) & 0x1FFFF == DIMMER_COMMAND for m in frames)
    finally:
        await service.stop()


async def test_a_full_queue_refuses_new_client_frames_but_not_stops(channel: str) -> None:
    service = await started(CanInterfaceService([house(channel)], rate_limit_s=1.0))
    try:
        queued = [service.submit("house", DIMMER_STATUS, bytes([n % 256]) * 8, client=f"c{n}") for n in range(300)]
        refused = [f for f in queued if f.done() and isinstance(f.exception(), CanBusyError)]
        assert refused and "queue" in str(refused[0].exception())
        stop = service.submit("house", DIMMER_COMMAND, b"\x10" * 8, urgent=True)
        async with asyncio.timeout(0.1):
            await stop
        for future in queued:
            future.cancel()
    finally:
        await service.stop()


async def test_each_client_is_rate_limited(channel: str) -> None:
    service = await started(CanInterfaceService([house(channel)], rate_limit_s=0.0))
    try:
        futures = [service.submit("house", DIMMER_STATUS, bytes([n]) * 8, client="greedy") for n in range(100)]
        limited = [f for f in futures if f.done() and isinstance(f.exception(), CanBusyError)]
        assert len(limited) >= 50 and "rate limit" in str(limited[0].exception())
        # Another client is not held back by the greedy one.
        async with asyncio.timeout(1.0):
            await service.send("house", DIMMER_STATUS, b"\x55" * 8, client="polite")
        await asyncio.gather(*futures, return_exceptions=True)
    finally:
        await service.stop()


async def test_the_gate_is_checked_when_the_frame_leaves(channel: str, peer: can.BusABC) -> None:
    service = await started(CanInterfaceService([house(channel)], rate_limit_s=0.05))
    allowed = [True]
    try:
        # The same output (instance 1) twice: the second waits out the rate limit.
        first = service.submit("house", DIMMER_COMMAND, b"\x01" * 8, client="a")
        second = service.submit("house", DIMMER_COMMAND, b"\x01" + b"\x02" * 7, client="a",
                                gate=lambda: None if allowed[0] else "the coach is moving")
        await first
        allowed[0] = False  # the coach starts to move while the second frame waits its turn
        with pytest.raises(TransmitRefused, match="the coach is moving"):
            await second
        frames = await received(peer, 0.1)
        assert [m.data[1] for m in frames if (m.arbitration_id >> 8) & 0x1FFFF == DIMMER_COMMAND] == [1]
    finally:
        await service.stop()


async def test_a_frame_older_than_its_bound_is_dropped_not_sent_late(channel: str, peer: can.BusABC) -> None:
    service = await started(CanInterfaceService([house(channel)], rate_limit_s=0.1))
    try:
        first = service.submit("house", DIMMER_COMMAND, b"\x01" * 8)
        late = service.submit("house", DIMMER_COMMAND, b"\x01" + b"\x02" * 7, max_age_s=0.03)
        await first
        with pytest.raises(TransmitRefused, match="older than"):
            await late
        frames = await received(peer, 0.15)
        assert [m.data[1] for m in frames if (m.arbitration_id >> 8) & 0x1FFFF == DIMMER_COMMAND] == [1]
    finally:
        await service.stop()


async def test_a_failing_gate_refuses(channel: str) -> None:
    service = await started(CanInterfaceService([house(channel)], rate_limit_s=0.0))

    def broken() -> str | None:
        raise ValueError("no vehicle state")

    try:
        with pytest.raises(TransmitRefused, match="safety gate failed"):
            await service.send("house", DIMMER_COMMAND, b"\x01" * 8, gate=broken)
        async with asyncio.timeout(1.0):
            await service.send("house", DIMMER_COMMAND, b"\x02" * 8)
    finally:
        await service.stop()


async def test_clients_take_turns_at_equal_priority(channel: str, peer: can.BusABC) -> None:
    service = await started(CanInterfaceService([house(channel)], rate_limit_s=0.01, client_burst=100))
    try:
        greedy = [service.submit("house", DIMMER_STATUS, b"\x01" + bytes([n]) * 7, client="greedy")
                  for n in range(30)]
        polite = service.submit("house", DIMMER_STATUS, b"\x01" + b"\xee" * 7, client="polite")
        await polite
        sent = [m.data[1] for m in await received(peer, 0.05)
                if (m.arbitration_id >> 8) & 0x1FFFF == DIMMER_STATUS]
        assert 0xEE in sent[:3], sent  # one turn after the greedy client's first, not after all thirty
        await asyncio.gather(*greedy)
    finally:
        await service.stop()


async def test_the_rate_limit_counts_per_device_output(channel: str) -> None:
    service = await started(CanInterfaceService([house(channel)], rate_limit_s=0.2))
    try:
        await service.send("house", DIMMER_COMMAND, b"\x01" * 8)
        loop = asyncio.get_running_loop()
        began = loop.time()
        await service.send("house", DIMMER_COMMAND, b"\x02" * 8)  # another instance: not held back
        assert loop.time() - began < 0.1
        await service.send("house", DIMMER_COMMAND, b"\x02" + b"\x00" * 7)  # the same one again: waits
        assert loop.time() - began >= 0.15
    finally:
        await service.stop()
