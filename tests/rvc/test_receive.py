"""The RV-C receiver behind the CAN receive path: repeat filter, liveness, per-instance keys, decoding."""

from __future__ import annotations

import pytest

from coachiq.can.pipeline import InterfaceStats, ReceivePipeline
from coachiq.rvc.codec import Codec
from coachiq.rvc.receive import RvcFrame, RvcReceiver, instance_bytes
from coachiq.rvc.spec import SpecDatabase
from coachiq.rvc.spec_load import load_database

DIMMER = 0x1FEDA
DIMMER_ID = (6 << 26) | (DIMMER << 8) | 0x8E


@pytest.fixture(scope="module")
def db() -> SpecDatabase:
    return load_database()


@pytest.fixture
def published() -> list[RvcFrame]:
    return []


def receiver(db: SpecDatabase, publish: list[RvcFrame] | None = None) -> RvcReceiver:
    return RvcReceiver(Codec(db), instance_bytes(db), None if publish is None else publish.append)


@pytest.fixture
def pipeline(db: SpecDatabase, published: list[RvcFrame]) -> ReceivePipeline:
    """The CAN receive path with the RV-C receiver as its sink, as the server runs them."""
    return ReceivePipeline(receiver(db, published))


def rvc(pipeline: ReceivePipeline) -> RvcReceiver:
    assert isinstance(pipeline.sink, RvcReceiver)
    return pipeline.sink


def dimmer(instance: int, level: int) -> bytes:
    return bytes((instance, 0xFF, level, 0xFC, 0xFF, 0xFF, 0xFF, 0xFF))


def test_repeat_is_counted_and_dropped_before_decoding(pipeline: ReceivePipeline,
                                                       published: list[RvcFrame]) -> None:
    stats = InterfaceStats("house")
    assert pipeline.process(1.0, DIMMER_ID, dimmer(1, 100), stats)
    assert not pipeline.process(2.0, DIMMER_ID, dimmer(1, 100), stats)
    assert pipeline.process(3.0, DIMMER_ID, dimmer(1, 50), stats)
    assert stats.rx_frames == 3
    assert stats.dropped_repeats == 1
    assert rvc(pipeline).decoded_frames == 2
    assert [f.timestamp for f in published] == [1.0, 3.0]
    frame = published[0]
    assert (frame.can_id, frame.dgn, frame.source_address, frame.interface, frame.own) == (
        DIMMER_ID, DIMMER, 0x8E, "house", False)
    assert frame.decoded.name == "DC_DIMMER_STATUS_3"
    assert frame.decoded.instance == 1


def test_repeat_refreshes_liveness(pipeline: ReceivePipeline) -> None:
    stats = InterfaceStats("house")
    pipeline.process(1.0, DIMMER_ID, dimmer(1, 100), stats)
    pipeline.process(7.5, DIMMER_ID, dimmer(1, 100), stats)
    assert rvc(pipeline).last_seen(DIMMER_ID, instance=1) == 7.5
    assert rvc(pipeline).last_seen(DIMMER_ID, instance=2) is None
    assert stats.last_rx_time == 7.5


def test_instances_of_one_sender_are_filtered_apart(pipeline: ReceivePipeline) -> None:
    stats = InterfaceStats("house")
    # Two loads round-robin from one node: each repeats its own last payload, not the other's.
    for _ in range(3):
        pipeline.process(1.0, DIMMER_ID, dimmer(1, 100), stats)
        pipeline.process(1.0, DIMMER_ID, dimmer(2, 20), stats)
    assert rvc(pipeline).decoded_frames == 2
    assert stats.dropped_repeats == 4


def test_dgn_without_instance_is_keyed_by_identifier_only(db: SpecDatabase) -> None:
    no_instance = next(s for s in db if s.instance_field is None and s.length == 8 and s.dgn >= 0x1F000)
    pipeline = ReceivePipeline(receiver(db))
    stats = InterfaceStats("house")
    can_id = (6 << 26) | (no_instance.dgn << 8) | 0x40
    a, b = b"\x01" + b"\xff" * 7, b"\x02" + b"\xff" * 7
    for payload in (a, b, a):
        assert pipeline.process(1.0, can_id, payload, stats)  # A -> B -> A is a change every time


def test_counters_per_dgn_and_unknown_dgns(pipeline: ReceivePipeline) -> None:
    stats = InterfaceStats("house")
    unknown_id = (6 << 26) | (0x1F00A << 8) | 0x10
    pipeline.process(1.0, DIMMER_ID, dimmer(1, 1), stats)
    pipeline.process(1.0, unknown_id, b"\x00" * 8, stats)
    pipeline.process(1.0, unknown_id, b"\x01" * 8, stats)
    assert rvc(pipeline).dgn_counts == {DIMMER: 1, 0x1F00A: 2}
    assert rvc(pipeline).unknown_dgns == {0x1F00A: 2}


def test_without_codec_frames_are_only_filtered_and_counted() -> None:
    pipeline = ReceivePipeline(RvcReceiver())
    stats = InterfaceStats("house")
    assert pipeline.process(1.0, DIMMER_ID, dimmer(1, 1), stats)
    assert not pipeline.process(1.0, DIMMER_ID, dimmer(1, 1), stats)
    assert rvc(pipeline).decoded_frames == 0


def test_forget_makes_the_next_payload_new(pipeline: ReceivePipeline) -> None:
    stats = InterfaceStats("house")
    pipeline.process(1.0, DIMMER_ID, dimmer(1, 1), stats)
    rvc(pipeline).forget()
    assert pipeline.process(2.0, DIMMER_ID, dimmer(1, 1), stats)


def test_a_batch_is_counted_and_filtered_like_the_same_frames_one_by_one(db: SpecDatabase) -> None:
    frames = [(DIMMER_ID, dimmer(1, 100)), (DIMMER_ID, dimmer(1, 100)), (DIMMER_ID, dimmer(2, 100)),
              (DIMMER_ID, dimmer(1, 50)), (DIMMER_ID, b"\x01")]
    one_by_one: list[RvcFrame] = []
    batched: list[RvcFrame] = []
    single, batch = InterfaceStats("a"), InterfaceStats("b")
    by_frame = ReceivePipeline(receiver(db, one_by_one))
    by_batch = ReceivePipeline(receiver(db, batched))
    new = sum(by_frame.process(5.0, can_id, data, single) for can_id, data in frames)
    assert by_batch.process_batch(5.0, frames, batch) == new == 4
    assert [f.decoded.values for f in batched] == [f.decoded.values for f in one_by_one]
    for key in ("rx_frames", "dropped_repeats", "bits", "last_rx_time", "last_frame_time", "tx_frames"):
        assert getattr(batch, key) == getattr(single, key), key


def test_a_subscriber_failing_mid_batch_still_leaves_the_counts_of_what_was_read(db: SpecDatabase) -> None:
    def failing(_frame: RvcFrame) -> None:
        raise RuntimeError("boom")

    stats = InterfaceStats("house")
    pipeline = ReceivePipeline(RvcReceiver(Codec(db), instance_bytes(db), failing))
    with pytest.raises(RuntimeError):
        pipeline.process_batch(1.0, [(DIMMER_ID, dimmer(1, 1)), (DIMMER_ID, dimmer(1, 1))], stats)
    # The whole batch was read; the repeat after the failing frame was not reached, so not counted.
    assert stats.rx_frames == 2 and stats.last_rx_time == 1.0 and stats.dropped_repeats == 0


def test_network_management_frames_never_reach_the_receiver(pipeline: ReceivePipeline,
                                                             published: list[RvcFrame]) -> None:
    stats = InterfaceStats("house")
    bam_id = (7 << 26) | (0xECFF << 8) | 0x20
    data = b"\x20\x0e\x00\x02\xff\x00\xef\x01"
    for _ in range(2):
        pipeline.process(1.0, bam_id, data, stats)
    assert published == [] and stats.dropped_repeats == 0 and stats.rx_frames == 2
