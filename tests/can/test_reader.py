"""The SocketCAN-shaped receive path: `can_frame` records, one datagram per frame, on the `fd` interface.

The CAN service reads the socket with the reader that reads a SocketCAN socket on the Pi; here its
other end is a test's, which sends records as the kernel would deliver them, and malformed ones.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import Iterator

import can
import pytest

from coachiq.bench.feed import Feed
from coachiq.can.address_claim import ClaimState
from coachiq.can.fdbus import FrameSocketBus
from coachiq.can.interface import CanInterfaceService, LinkState
from coachiq.can.reader import CAN_EFF_FLAG, CAN_ERR_FLAG, CAN_FRAME, CAN_RTR_FLAG, SocketReader, pack_frame
from coachiq.core.alerts import AlertManager, Priority
from coachiq.core.metrics import Metrics
from coachiq.core.service import Status
from coachiq.settings import CanInterfaceSettings
from tests.can.conftest import wait_for

DIMMER_ID = (6 << 26) | (0x1FEDA << 8) | 0x8E  # DC_DIMMER_STATUS_3 from 0x8E
PAYLOAD = bytes([1, 0xFF, 100, 0xFC, 0xFF, 0xFF, 0xFF, 0xFF])


@pytest.fixture
def feed() -> Iterator[Feed]:
    found = Feed()
    yield found
    found.close()


def fd_interface(feed: Feed, drain_ms: float = 0.0) -> CanInterfaceSettings:
    return CanInterfaceSettings.model_validate(feed.settings(drain_ms=drain_ms))


def test_a_record_is_the_kernel_s_struct_can_frame() -> None:
    # include/uapi/linux/can.h: canid_t can_id (host order), __u8 len, __u8 __pad, __u8 __res0,
    # __u8 len8_dlc, __u8 data[8]; 29-bit identifiers carry CAN_EFF_FLAG (bit 31).
    record = pack_frame(0x19FEDA8E, b"\x01\x02\x03")
    assert len(record) == 16
    assert record[:4] == struct.pack("=I", 0x99FEDA8E)
    assert record[4:8] == b"\x03\x00\x00\x00"
    assert record[8:] == b"\x01\x02\x03" + bytes(5)
    assert pack_frame(0x123, b"", extended=False)[:5] == struct.pack("=IB", 0x123, 0)


async def test_frames_arriving_one_datagram_at_a_time_reach_the_pipeline(feed: Feed) -> None:
    service = CanInterfaceService([fd_interface(feed)])
    seen: list[tuple[float, int, bytes]] = []
    process = service.pipeline.process_frames

    def record(frames: list[tuple[float, int, bytes]], stats: object, own: bool = False) -> int:
        if not own:
            seen.extend(frames)
        return process(frames, stats, own)  # type: ignore[arg-type]

    service.pipeline.process_frames = record  # type: ignore[method-assign]
    await service.start()
    try:
        sent = []
        for n in range(20):
            sent.append(feed.send(DIMMER_ID, bytes([1 + n % 4, 0xFF, n]) + bytes(5)))
        stats = service.link("house").stats
        await wait_for(lambda: stats.rx_frames == 20)
        assert [(i, d) for _, i, d in seen] == [(DIMMER_ID, bytes([1 + n % 4, 0xFF, n]) + bytes(5)) for n in range(20)]
        # Each frame carries the kernel's time stamp, taken when it entered the socket, as on SocketCAN.
        for (stamp, _, _), when in zip(seen, sent, strict=True):
            assert when <= stamp < when + 0.05
        assert (await service.health()).status is Status.HEALTHY
    finally:
        await service.stop()


async def test_a_draining_reader_reads_bursts_and_wakes_per_frame_again_when_quiet(feed: Feed) -> None:
    service = CanInterfaceService([fd_interface(feed, drain_ms=20)])
    await service.start()
    try:
        stats = service.link("house").stats
        feed.send(DIMMER_ID, PAYLOAD)
        await wait_for(lambda: stats.rx_frames == 1, timeout=1)  # the first frame after quiet: at once
        for n in range(50):
            feed.send(DIMMER_ID, bytes([2, 0xFF, n]) + bytes(5))
        await wait_for(lambda: stats.rx_frames == 51, timeout=2)
        await wait_for(lambda: service.link("house").reader.listening, timeout=1)  # type: ignore[union-attr]
        feed.send(DIMMER_ID, bytes([3]) + PAYLOAD[1:])  # quiet again: back to a wake-up per frame
        await wait_for(lambda: stats.rx_frames == 52, timeout=1)
    finally:
        await service.stop()


async def test_busy_buses_with_the_same_interval_are_read_in_one_round(feed: Feed) -> None:
    chassis = Feed()
    settings = [fd_interface(feed, drain_ms=20),
                CanInterfaceSettings.model_validate(chassis.settings("chassis", drain_ms=20))]
    service = CanInterfaceService(settings)
    await service.start()
    try:
        house, other = service.link("house"), service.link("chassis")
        readers = [house.reader, other.reader]
        assert all(isinstance(r, SocketReader) for r in readers)
        rounds = readers[0].rounds  # type: ignore[union-attr]
        assert rounds is not None and readers[1].rounds is rounds  # type: ignore[union-attr]
        stamps = []
        for n in range(40):
            stamps.append(feed.send(DIMMER_ID, bytes([1, 0xFF, n]) + bytes(5)))
            chassis.send(0x0CF00400, bytes([n]) + bytes(7))
        await wait_for(lambda: house.stats.rx_frames == 40 and other.stats.rx_frames == 40, timeout=2)
        assert house.stats.last_rx_time is not None and house.stats.last_rx_time >= stamps[-1]
        # Quiet again: both listen for their next frame, and the shared timer is gone.
        await wait_for(lambda: all(r.listening for r in readers), timeout=1)  # type: ignore[union-attr]
        assert rounds.readers == []
        chassis.send(0x0CF00400, b"\xff" * 8)
        await wait_for(lambda: other.stats.rx_frames == 41, timeout=1)
    finally:
        await service.stop()
        chassis.close()
    assert rounds.readers == []


@pytest.mark.parametrize(("record", "why"), [
    (b"", "a record of 0 bytes"),
    (b"\x00" * 15, "a record of 15 bytes"),
    (pack_frame(DIMMER_ID, PAYLOAD) + b"\x00", "a record of 17 bytes"),
    (b"\x00" * 72, "a CAN FD frame"),
    (struct.pack("=IB3x8s", DIMMER_ID | CAN_EFF_FLAG | CAN_RTR_FLAG, 8, PAYLOAD), "a remote frame"),
    (struct.pack("=IB3x8s", DIMMER_ID | CAN_EFF_FLAG, 9, PAYLOAD), "a data length of 9"),
    (struct.pack("=IB3x8s", 0x1234, 8, PAYLOAD), "an 11-bit identifier 0x1234"),
])
async def test_a_malformed_record_is_refused_and_counted_and_reading_goes_on(
        feed: Feed, record: bytes, why: str) -> None:
    metrics = Metrics()
    service = CanInterfaceService([fd_interface(feed)], metrics=metrics)
    await service.start()
    try:
        link = service.link("house")
        feed.send_record(record)
        feed.send(DIMMER_ID, PAYLOAD)
        await wait_for(lambda: link.stats.rx_frames == 1)
        assert link.refused == 1
        assert [reason for reason in link.refused_reasons if why in reason]
        assert link.state is LinkState.UP
        health = await service.health()
        assert health.data["house"]["refused"] == 1  # type: ignore[index]
        assert 'coachiq_can_refused_records_total{interface="house"} 1.0' in metrics.render().decode()
    finally:
        await service.stop()


async def test_a_bus_off_error_frame_is_reported_and_the_next_frame_recovers(feed: Feed) -> None:
    alerts = AlertManager()
    service = CanInterfaceService([fd_interface(feed)], alerts=alerts)
    await service.start()
    try:
        link = service.link("house")
        feed.send_record(CAN_FRAME.pack(CAN_ERR_FLAG | 0x40, 8, bytes(8)))  # CAN_ERR_BUSOFF
        await wait_for(lambda: link.state is LinkState.BUS_OFF)
        assert alerts.has_active(Priority.P1) and link.refused == 0
        feed.send(DIMMER_ID, PAYLOAD)
        await wait_for(lambda: link.state is LinkState.UP)
        assert not alerts.has_active(Priority.P1)
    finally:
        await service.stop()


async def test_what_the_server_sends_goes_out_the_same_socket_as_records(feed: Feed) -> None:
    service = CanInterfaceService([fd_interface(feed)])
    await service.start()
    try:
        link = service.link("house")
        await wait_for(lambda: link.claimer.state is ClaimState.CLAIMED, timeout=2)
        claim = feed.receive(1.0)
        assert [(can_id >> 16) & 0xFF for _, can_id, _ in claim] == [0xEE]  # our address claim
        can_id = await service.send("house", 0x1FEDB, bytes([4, 0xFF, 200, 0, 0, 0, 0xFF, 0xFF]))
        sent = feed.receive(1.0)
        assert [(i, d) for _, i, d in sent] == [(can_id, bytes([4, 0xFF, 200, 0, 0, 0, 0xFF, 0xFF]))]
    finally:
        await service.stop()


async def test_the_other_end_closing_takes_the_interface_down_once(feed: Feed) -> None:
    seq = Feed(socket.SOCK_SEQPACKET)
    alerts = AlertManager()
    service = CanInterfaceService([fd_interface(seq)], alerts=alerts, backoff_start_s=30.0)
    await service.start()
    try:
        link = service.link("house")
        seq.send(DIMMER_ID, PAYLOAD)
        await wait_for(lambda: link.stats.rx_frames == 1)
        seq.ours.close()
        await wait_for(lambda: link.state is LinkState.DOWN, timeout=2)
        assert "ConnectionResetError" in link.last_error and alerts.has_active(Priority.P1)
        assert link.reader is None  # unregistered: the loop does not spin on the closed socket
    finally:
        await service.stop()
        seq.close()


def test_the_fd_interface_refuses_what_is_no_frame_socket(feed: Feed) -> None:
    with pytest.raises(can.CanInitializationError, match="file descriptor number"):
        can.Bus(interface="fd", channel="can0")
    stream_a, stream_b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with pytest.raises(can.CanInitializationError, match="not an AF_UNIX datagram"):
            can.Bus(interface="fd", channel=str(stream_a.fileno()))
    finally:
        stream_a.close()
        stream_b.close()
    bus = can.Bus(interface="fd", channel=str(feed.server_fd))
    try:
        assert isinstance(bus, FrameSocketBus)
        bus.send(can.Message(arbitration_id=DIMMER_ID, data=PAYLOAD))
        assert [(i, d) for _, i, d in feed.receive(1.0)] == [(DIMMER_ID, PAYLOAD)]
        feed.send(DIMMER_ID, PAYLOAD)
        message = bus.recv(1.0)
        assert message is not None and message.arbitration_id == DIMMER_ID and bytes(message.data) == PAYLOAD
        assert message.timestamp <= time.time()
    finally:
        bus.shutdown()


class _Calls:
    """A FrameHandler that keeps every call, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    def frames(self, frames: list[tuple[float, int, bytes]]) -> None:
        self.calls.extend(("frame", can_id, data) for _timestamp, can_id, data in frames)
        self.stamps = [timestamp for timestamp, _can_id, _data in frames]

    def standard_frame(self) -> None:
        self.calls.append(("standard",))

    def error_frame(self, error_class: int) -> None:
        self.calls.append(("error", error_class))

    def refused(self, reason: str) -> None:
        self.calls.append(("refused", reason))

    def fault(self, exc: BaseException) -> None:
        self.calls.append(("fault", type(exc).__name__))


@pytest.mark.parametrize("batched", [True, False], ids=["many-per-call", "one-per-call"])
async def test_both_ways_of_reading_hand_over_the_same_in_the_same_order(batched: bool) -> None:
    feed = Feed(socket.SOCK_SEQPACKET)
    loop = asyncio.get_running_loop()
    handler = _Calls()
    reader = SocketReader(feed.theirs, loop, handler, batched=batched)
    records = [pack_frame(DIMMER_ID, PAYLOAD), pack_frame(DIMMER_ID, b"\x01\x02"), b"\x00" * 15,
               struct.pack("=IB3x8s", DIMMER_ID | CAN_EFF_FLAG | CAN_RTR_FLAG, 8, PAYLOAD),
               struct.pack("=IB3x8s", CAN_ERR_FLAG | 0x40, 8, bytes(8)), pack_frame(0x123, b"\x05", extended=False),
               struct.pack("=IB3x8s", DIMMER_ID | CAN_EFF_FLAG, 9, PAYLOAD), b"\x00" * 80,
               *(pack_frame(DIMMER_ID, bytes([n]) * 8) for n in range(100))]
    sent = [feed.send_record(record) for record in records]
    assert reader.read_waiting() == len(records)
    assert handler.calls == [
        ("frame", DIMMER_ID, PAYLOAD), ("frame", DIMMER_ID, b"\x01\x02"),
        ("refused", "a record of 15 bytes, not a 16-byte can_frame"), ("refused", "a remote frame (RV-C uses none)"),
        ("error", 0x40), ("standard",), ("refused", "a data length of 9 (at most 8)"),
        ("refused", "a record of 72 bytes (truncated), not a 16-byte can_frame (a CAN FD frame)"),
        *(("frame", DIMMER_ID, bytes([n]) * 8) for n in range(100))]
    for stamp, when in zip(handler.stamps, sent[-100:], strict=True):  # the kernel's time of each record
        assert when <= stamp < when + 0.05
    assert reader.read_waiting() == 0  # nothing left
    feed.ours.close()  # the other end goes away: an empty record on a sequenced-packet socket
    handler.calls.clear()
    reader.read_waiting()
    assert handler.calls == [("fault", "ConnectionResetError")] and reader.stopped
    feed.close()
