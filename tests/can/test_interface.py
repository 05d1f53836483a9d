"""The CAN interface service on python-can virtual buses: receive, transmit, faults, health, metrics."""

from __future__ import annotations

import asyncio
import itertools
import sys
import threading
import time

import can
import pytest

from coachiq.can.address_claim import ClaimState
from coachiq.can.interface import (
    BACKOFF_MAX_S,
    BACKOFF_START_S,
    CanInterfaceService,
    CanTransmitError,
    LinkState,
)
from coachiq.can.pipeline import InterfaceStats, ReceivePipeline
from coachiq.core.alerts import AlertManager, Priority
from coachiq.core.metrics import Metrics
from coachiq.core.service import Health, Status
from tests.can.conftest import FaultInjector, house, received, wait_for

DIMMER_ID = (6 << 26) | (0x1FEDA << 8) | 0x8E
PROPRIETARY_A = 0x1EF00  # destination-specific (PDU1)


class Recorder:
    """A receive-path sink keeping every (identifier, payload, own) it is handed."""

    def __init__(self) -> None:
        self.frames: list[tuple[int, bytes, bool]] = []

    def receive(self, frames: list[tuple[float, int, bytes]], stats: InterfaceStats, own: bool) -> int:
        self.frames.extend((can_id, data, own) for _timestamp, can_id, data in frames)
        return len(frames)


async def started(service: CanInterfaceService, settle: bool = True) -> CanInterfaceService:
    await service.start()
    if settle:  # our address claim stands once 250 ms pass without contention: wait until it does
        await wait_for(lambda: all(link.claimer.state is ClaimState.CLAIMED for link in service.links.values()),
                       timeout=2)
    return service


def _reader_waiting(name: str) -> bool:
    """True while the receive thread `name` waits inside the bus's blocking recv (a queue wait)."""
    thread = next((t for t in threading.enumerate() if t.name == name), None)
    frame = sys._current_frames().get(thread.ident) if thread is not None and thread.ident else None
    while frame is not None:
        if frame.f_code.co_name == "_recv_internal":
            return True
        frame = frame.f_back
    return False


async def test_frames_from_the_bus_reach_the_sink_in_order(channel: str, peer: can.BusABC) -> None:
    sink = Recorder()
    service = await started(CanInterfaceService([house(channel)], pipeline=ReceivePipeline(sink)), settle=False)
    try:
        payloads = (b"\x01\xff\x10" + b"\xff" * 5, b"\x01\xff\x10" + b"\xff" * 5, b"\x01\xff\x20" + b"\xff" * 5)
        for payload in payloads:
            peer.send(can.Message(arbitration_id=DIMMER_ID, data=payload))
        stats = service.link("house").stats
        await wait_for(lambda: stats.rx_frames == 3)
        # The CAN layer filters nothing: repeats are the RV-C receiver's business (tests/rvc/test_receive.py).
        assert [(can_id, data) for can_id, data, _own in sink.frames] == [(DIMMER_ID, p) for p in payloads]
        assert stats.dropped_repeats == 0
        health = await service.health()
        assert health.status is Status.HEALTHY and "house: up" in health.detail
    finally:
        await service.stop()


async def test_own_frames_appear_in_the_receive_path(channel: str, peer: can.BusABC) -> None:
    sink = Recorder()
    service = await started(CanInterfaceService([house(channel)], pipeline=ReceivePipeline(sink)))
    own: list[bool] = []
    service.pipeline.control = lambda ts, can_id, data, stats, is_own: own.append(is_own)
    try:
        can_id = await service.send("house", 0x1FEDA, b"\x05" * 8)
        stats = service.link("house").stats
        assert stats.tx_frames == 2  # the address claim, then our frame
        assert sink.frames == [(can_id, b"\x05" * 8, True)]
        service.pipeline.control = service._on_control
        await service.send("house", 0xEA00, b"\x00\xee\x00", destination=0x20)
        assert stats.tx_frames == 3
    finally:
        await service.stop()


async def test_priority_queue_sends_the_most_urgent_first(channel: str, peer: can.BusABC) -> None:
    service = await started(CanInterfaceService([house(channel)], rate_limit_s=0.0), settle=False)
    try:
        # Queued while the claim settles: they leave in priority order, equal priorities first-in first-out.
        futures = [service.submit("house", 0x1FEDA, bytes([n]) * 8, priority=p)
                   for n, p in enumerate((6, 3, 7, 3, 0))]
        await asyncio.gather(*futures)
        frames = await received(peer, 0.2, pf=0xFE)
        assert [m.data[0] for m in frames] == [4, 1, 3, 0, 2]
        assert [(m.arbitration_id >> 26) for m in frames] == [0, 3, 3, 6, 7]
    finally:
        await service.stop()


async def test_rate_limit_per_destination(channel: str, peer: can.BusABC) -> None:
    service = await started(CanInterfaceService([house(channel)], rate_limit_s=0.08))
    try:
        began = time.monotonic()
        await asyncio.gather(*(service.submit("house", PROPRIETARY_A, bytes([n]) * 8, destination=0x20)
                               for n in range(3)))
        assert time.monotonic() - began >= 2 * 0.08 - 0.01
        frames = await received(peer, 0.2, pf=0xEF)
        gaps = [b.timestamp - a.timestamp for a, b in itertools.pairwise(frames)]
        assert len(frames) == 3 and all(gap >= 0.07 for gap in gaps)
        assert {m.arbitration_id >> 8 & 0xFF for m in frames} == {0x20}
        # Another destination is not held back by the first one's limit.
        began = time.monotonic()
        await service.send("house", PROPRIETARY_A, b"\x09" * 8, destination=0x21)
        assert time.monotonic() - began < 0.06
    finally:
        await service.stop()


async def test_bad_transmit_requests_are_refused(channel: str) -> None:
    service = await started(CanInterfaceService([house(channel)]), settle=False)
    try:
        with pytest.raises(KeyError, match="no CAN interface 'chassis'"):
            service.submit("chassis", 0x1FEDA, b"")
        with pytest.raises(ValueError, match="at most 8 bytes"):
            service.submit("house", 0x1FEDA, b"\x00" * 9)
        with pytest.raises(ValueError, match="priority"):
            service.submit("house", 0x1FEDA, b"", priority=8)
    finally:
        await service.stop()


async def test_interface_missing_at_start_still_starts_and_keeps_retrying(channel: str,
                                                                          injector: FaultInjector) -> None:
    injector.open_fails = True
    alerts = AlertManager()
    service = CanInterfaceService([house(channel)], alerts=alerts, bus_factory=injector.factory,
                                  backoff_start_s=0.05, backoff_max_s=0.2)
    await service.start()
    try:
        health = await service.health()
        assert health.status is Status.UNHEALTHY and "down" in health.detail and "No such device" in health.detail
        assert [a.key for a in alerts.active] == ["can:house"] and alerts.has_active(Priority.P1)
        with pytest.raises(CanTransmitError, match="down"):
            await service.send("house", 0x1FEDA, b"\x00" * 8)
        await wait_for(lambda: len(injector.open_attempts) >= 5)
        gaps = [b - a for a, b in itertools.pairwise(injector.open_attempts)]
        # 0.05, 0.1, 0.2, then capped at 0.2: doubling, never spinning. A busy machine can only make a
        # retry late, never early, so the lower bounds are tight and the upper ones leave room for it.
        for gap, backoff in zip(gaps, [0.05, 0.1, 0.2, 0.2], strict=False):
            assert backoff * 0.9 <= gap < backoff + 0.3, gaps
        injector.open_fails = False
        await wait_for(lambda: service.link("house").state is LinkState.UP)
        assert alerts.active == []
    finally:
        await service.stop()


async def test_receive_fault_reconnects_with_backoff_and_raises_a_p1(channel: str, injector: FaultInjector,
                                                                     peer: can.BusABC) -> None:
    alerts = AlertManager()
    service = await started(CanInterfaceService([house(channel)], alerts=alerts, bus_factory=injector.factory,
                                                backoff_start_s=0.05, backoff_max_s=0.2), settle=False)
    try:
        link = service.link("house")
        assert link.state is LinkState.UP and alerts.active == []
        injector.recv_fails = True
        await wait_for(lambda: link.state is LinkState.DOWN)
        assert alerts.active[0].key == "can:house" and alerts.active[0].priority is Priority.P1
        health = await service.health()
        assert health.status is Status.UNHEALTHY and "CanOperationError" in health.detail
        await wait_for(lambda: len(injector.open_attempts) >= 3)  # reopens, fails again, reopens later
        injector.recv_fails = False
        await wait_for(lambda: link.state is LinkState.UP and link.bus is not None)
        assert alerts.active == []
        assert link.reconnects >= 2
        peer.send(can.Message(arbitration_id=DIMMER_ID, data=b"\x07" * 8))
        await wait_for(lambda: link.stats.rx_frames >= 1)
        assert sum(1 for bus in injector.buses if bus._open) == 1  # the failed buses were shut down
    finally:
        await service.stop()


async def _degraded(service: CanInterfaceService) -> Health | None:
    health = await service.health()
    return health if health.status is Status.DEGRADED else None


def test_default_backoff_is_one_second_doubling_to_thirty() -> None:
    assert (BACKOFF_START_S, BACKOFF_MAX_S) == (1.0, 30.0)


async def test_no_traffic_is_degraded(channel: str) -> None:
    service = await started(CanInterfaceService([house(channel)], no_traffic_s=0.1), settle=False)
    try:
        assert (await service.health()).status is Status.HEALTHY  # just opened: no traffic yet is normal
        health = await wait_for(lambda: _degraded(service), timeout=2)
        assert "no traffic for" in health.detail
    finally:
        await service.stop()


async def test_bus_off_error_frame_is_unhealthy(channel: str, peer: can.BusABC) -> None:
    alerts = AlertManager()
    service = await started(CanInterfaceService([house(channel)], alerts=alerts), settle=False)
    try:
        peer.send(can.Message(arbitration_id=0x40, is_error_frame=True, is_extended_id=False, data=b"\x00" * 8))
        await wait_for(lambda: service.link("house").state is LinkState.BUS_OFF)
        assert (await service.health()).detail.startswith("house: bus-off")
        assert alerts.has_active(Priority.P1)
        peer.send(can.Message(arbitration_id=DIMMER_ID, data=b"\x01" * 8))
        await wait_for(lambda: service.link("house").state is LinkState.UP)
        assert alerts.active == []
    finally:
        await service.stop()


async def test_metrics_are_exported(channel: str, peer: can.BusABC) -> None:
    metrics = Metrics()
    service = await started(CanInterfaceService([house(channel)], metrics=metrics), settle=False)
    try:
        peer.send(can.Message(arbitration_id=DIMMER_ID, data=b"\x01" * 8))
        await wait_for(lambda: service.link("house").stats.rx_frames == 1)
        text = metrics.render().decode()
        assert 'coachiq_can_rx_frames_total{interface="house"} 1.0' in text
        assert 'coachiq_can_up{interface="house"} 1.0' in text
        for name in ("coachiq_can_tx_frames_total", "coachiq_can_errors_total",
                     "coachiq_can_dropped_repeats_total", "coachiq_can_bus_load_percent",
                     "coachiq_can_last_frame_timestamp_seconds"):
            assert name in text
    finally:
        await service.stop()


async def test_two_interfaces_are_independent(channel: str) -> None:
    chassis_channel = channel + "-chassis"
    service = await started(CanInterfaceService([house(channel), house(chassis_channel, "chassis")]),
                            settle=False)
    chassis_peer = can.Bus(interface="virtual", channel=chassis_channel)
    try:
        chassis_peer.send(can.Message(arbitration_id=DIMMER_ID, data=b"\x01" * 8))
        await wait_for(lambda: service.link("chassis").stats.rx_frames == 1)
        assert service.link("house").stats.rx_frames == 0
    finally:
        chassis_peer.shutdown()
        await service.stop()
    with pytest.raises(ValueError, match="unique"):
        CanInterfaceService([house(channel), house(channel)])


async def test_closing_a_virtual_bus_wakes_its_reader_at_once(channel: str) -> None:
    # Its reader waits up to a second for a frame; closing must not wait that long.
    service = await started(CanInterfaceService([house(channel)]), settle=False)
    await wait_for(lambda: _reader_waiting("can-house-rx"))
    began = time.monotonic()
    await service.stop()
    assert time.monotonic() - began < 0.5
    assert not [t for t in threading.enumerate() if t.name == "can-house-rx"]
