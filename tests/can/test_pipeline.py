"""The frame-level receive path: counters, bus load, network management frames, hand-off to the sink."""

from __future__ import annotations

import time

import pytest

from coachiq.can.pipeline import InterfaceStats, ReceivePipeline, frame_bits

DIMMER_ID = (6 << 26) | (0x1FEDA << 8) | 0x8E
BAM_ID = (7 << 26) | (0xECFF << 8) | 0x20
CLAIM_ID = (6 << 26) | (0xEEFF << 8) | 0x20


class Recorder:
    """A sink that keeps what it is handed and calls every frame new."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[tuple[float, int, bytes]], str, bool]] = []

    def receive(self, frames: list[tuple[float, int, bytes]], stats: InterfaceStats, own: bool) -> int:
        self.calls.append((list(frames), stats.name, own))
        return len(frames)


def test_data_frames_reach_the_sink_and_are_counted() -> None:
    sink = Recorder()
    pipeline = ReceivePipeline(sink)
    stats = InterfaceStats("house")
    payload = b"\x01\xff\x10" + b"\xff" * 5
    assert pipeline.process(1.0, DIMMER_ID, payload, stats)
    assert pipeline.process(2.0, DIMMER_ID, payload, stats, own=True)
    assert sink.calls == [([(1.0, DIMMER_ID, payload)], "house", False), ([(2.0, DIMMER_ID, payload)], "house", True)]
    assert (stats.rx_frames, stats.tx_frames, stats.last_rx_time, stats.last_frame_time) == (1, 1, 1.0, 2.0)
    assert stats.bits == 2 * frame_bits(8)


def test_without_a_sink_frames_are_only_counted() -> None:
    pipeline = ReceivePipeline()
    stats = InterfaceStats("house")
    assert not pipeline.process(1.0, DIMMER_ID, b"\x01" * 8, stats)
    assert pipeline.process_batch(1.0, [(DIMMER_ID, b"\x01" * 8)] * 3, stats) == 0
    assert stats.rx_frames == 4 and stats.dropped_repeats == 0


def test_network_management_frames_go_to_the_control_handler_in_order() -> None:
    sink = Recorder()
    pipeline = ReceivePipeline(sink)
    order: list[object] = []
    pipeline.control = lambda ts, can_id, data, stats, own: order.append((can_id, data, own))
    real_receive = sink.receive

    def receive(frames: list[tuple[float, int, bytes]], stats: InterfaceStats, own: bool) -> int:
        order.append([can_id for _timestamp, can_id, _ in frames])
        return real_receive(frames, stats, own)

    sink.receive = receive  # type: ignore[method-assign]
    stats = InterfaceStats("house")
    bam = b"\x20\x0e\x00\x02\xff\x00\xef\x01"
    claim = b"\x00" * 8
    new = pipeline.process_batch(1.0, [(DIMMER_ID, b"\x01" * 8), (BAM_ID, bam), (DIMMER_ID, b"\x02" * 8),
                                       (CLAIM_ID, claim), (CLAIM_ID, claim)], stats)
    # The data frame before the BAM reached the sink before the BAM reached the handler.
    assert order == [[DIMMER_ID], (BAM_ID, bam, False), [DIMMER_ID], (CLAIM_ID, claim, False),
                     (CLAIM_ID, claim, False)]
    assert new == 2 and stats.rx_frames == 5


def test_bus_load_from_bits_on_the_wire() -> None:
    stats = InterfaceStats("house", bitrate=250_000)
    pipeline = ReceivePipeline()
    start = time.monotonic() + 10.0
    stats.bus_load(now=start)  # sets the window's start
    for n in range(1000):
        pipeline.process(0.0, DIMMER_ID, n.to_bytes(8, "little"), stats)
    expected = 100.0 * 1000 * frame_bits(8) / 250_000
    assert stats.bus_load(now=start + 1.0) == pytest.approx(expected, abs=0.1)
    assert 131 <= frame_bits(8) <= 160  # an extended 8-byte frame, stuffing estimated
    assert frame_bits(0, extended=False) == 47 + (33 // 4) // 3


def test_a_sink_failing_mid_batch_still_leaves_the_counts_of_what_was_read() -> None:
    class Failing:
        def receive(self, frames: list[tuple[float, int, bytes]], stats: InterfaceStats, own: bool) -> int:
            raise RuntimeError("boom")

    stats = InterfaceStats("house")
    pipeline = ReceivePipeline(Failing())
    with pytest.raises(RuntimeError):
        pipeline.process_batch(1.0, [(DIMMER_ID, b"\x01" * 8), (DIMMER_ID, b"\x02" * 8)], stats)
    assert stats.rx_frames == 2 and stats.last_rx_time == 1.0
