"""J1939-21 transport: BAM and RTS/CTS reception, BAM sending, timeouts, bounds, fuzzing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from coachiq.can.ids import compose_id
from coachiq.rvc.transport import (
    ABORT_BAD_SEQUENCE,
    ABORT_TIMEOUT,
    ABORT_TOO_LARGE,
    T1,
    T2,
    Frame,
    Message,
    TransportReceiver,
    bam_frames,
)

ME = 0x42
PEER = 0x80
TEXT = b"ACME*RV42*SN12345*"  # 18 bytes: 3 packets


def _cm(source: int, destination: int, data: bytes) -> tuple[int, bytes]:
    return compose_id(0xEC00, source, 7, destination), data


def _dt(source: int, destination: int, sequence: int, chunk: bytes) -> tuple[int, bytes]:
    return compose_id(0xEB00, source, 7, destination), bytes((sequence,)) + chunk.ljust(7, b"\xff")


def _rts(size: int, packets: int, dgn: int = 0xFEEB, limit: int = 0xFF) -> tuple[int, bytes]:
    data = bytes((16, size & 0xFF, size >> 8, packets, limit, dgn & 0xFF, (dgn >> 8) & 0xFF, dgn >> 16))
    return _cm(PEER, ME, data)


def test_bam_frames_and_reception_round_trip() -> None:
    frames = bam_frames(0xFEEB, TEXT, source_address=PEER)
    assert frames[0] == Frame(0x1CECFF80, bytes.fromhex("2012000 3FFEBFE00".replace(" ", "")))
    assert [f.data[0] for f in frames[1:]] == [1, 2, 3]
    assert frames[-1].data == bytes((3,)) + TEXT[14:] + b"\xff" * 3
    receiver = TransportReceiver(own_address=ME)
    results = [receiver.feed(f.can_id, f.data, now=0.1 * i) for i, f in enumerate(frames)]
    assert all(r.message is None and r.frames == () for r in results[:-1])
    assert results[-1].message == Message(dgn=0xFEEB, source_address=PEER, destination=0xFF, data=TEXT)
    assert receiver.stats.completed == 1 and receiver.session_count == 0


def test_bam_send_rejects_short_and_huge() -> None:
    for data in (b"12345678", bytes(1786)):
        try:
            bam_frames(0xFEEB, data, 1)
        except ValueError as exc:
            assert "9..1785" in str(exc)
        else:
            raise AssertionError("expected ValueError")


def test_rts_cts_with_windows_and_end_of_message_ack() -> None:
    receiver = TransportReceiver(own_address=ME, packets_per_cts=2)
    first = receiver.feed(*_rts(len(TEXT), 3), now=0.0)
    assert first.frames == (Frame(compose_id(0xEC00, ME, 7, PEER), bytes((17, 2, 1, 0xFF, 0xFF, 0xEB, 0xFE, 0))),)
    assert receiver.feed(*_dt(PEER, ME, 1, TEXT[0:7]), now=0.1).frames == ()
    second_cts = receiver.feed(*_dt(PEER, ME, 2, TEXT[7:14]), now=0.2)
    assert second_cts.frames[0].data[:3] == bytes((17, 1, 3))
    done = receiver.feed(*_dt(PEER, ME, 3, TEXT[14:]), now=0.3)
    assert done.message == Message(0xFEEB, PEER, ME, TEXT)
    assert done.frames == (Frame(compose_id(0xEC00, ME, 7, PEER),
                                 bytes((19, len(TEXT), 0, 3, 0xFF, 0xEB, 0xFE, 0))),)
    assert receiver.stats.completed == 1


def test_rts_too_large_is_aborted() -> None:
    receiver = TransportReceiver(own_address=ME, max_size=100)
    result = receiver.feed(*_rts(200, 29), now=0.0)
    assert result.frames[0].data[:2] == bytes((255, ABORT_TOO_LARGE))
    assert receiver.session_count == 0 and receiver.stats.rejected == 1


def test_bad_sequence_drops_session() -> None:
    receiver = TransportReceiver(own_address=ME)
    receiver.feed(*_rts(len(TEXT), 3), now=0.0)
    result = receiver.feed(*_dt(PEER, ME, 2, TEXT[7:14]), now=0.1)
    assert result.frames[0].data[:2] == bytes((255, ABORT_BAD_SEQUENCE))
    assert receiver.stats.bad_sequence == 1 and receiver.session_count == 0
    # a BAM with a skipped packet is dropped silently (nobody to tell)
    frames = bam_frames(0xFEEB, TEXT, PEER)
    receiver.feed(frames[0].can_id, frames[0].data, now=1.0)
    assert receiver.feed(frames[2].can_id, frames[2].data, now=1.1).frames == ()
    assert receiver.stats.bad_sequence == 2


def test_timeouts() -> None:
    receiver = TransportReceiver(own_address=ME)
    frames = bam_frames(0xFEEB, TEXT, 0x10)
    receiver.feed(frames[0].can_id, frames[0].data, now=0.0)
    receiver.feed(*_rts(len(TEXT), 3), now=0.0)
    assert receiver.expire(now=T1 - 0.01) == ()
    assert receiver.session_count == 2
    assert receiver.expire(now=T1 + 0.01) == ()  # the BAM timed out, silently
    assert receiver.session_count == 1
    aborts = receiver.expire(now=T2 + 0.01)  # the RTS session waited too long for data
    assert aborts == (Frame(compose_id(0xEC00, ME, 7, PEER), bytes((255, ABORT_TIMEOUT, 0xFF, 0xFF, 0xFF,
                                                                     0xEB, 0xFE, 0))),)
    assert receiver.stats.timed_out == 2 and receiver.session_count == 0


def test_sender_abort_and_replacement() -> None:
    receiver = TransportReceiver(own_address=ME)
    receiver.feed(*_rts(len(TEXT), 3), now=0.0)
    receiver.feed(*_rts(len(TEXT), 3), now=0.1)  # a new RTS replaces the old transfer
    assert receiver.stats.aborted == 1 and receiver.session_count == 1
    receiver.feed(*_cm(PEER, ME, bytes((255, 1, 255, 255, 255, 0xEB, 0xFE, 0))), now=0.2)
    assert receiver.stats.aborted == 2 and receiver.session_count == 0


def test_session_table_is_bounded() -> None:
    receiver = TransportReceiver(own_address=ME, max_sessions=4)
    for source in range(10):
        frame = bam_frames(0xFEEB, TEXT, source)[0]
        receiver.feed(frame.can_id, frame.data, now=0.0)
    assert receiver.session_count == 4 and receiver.stats.evicted == 6
    # the newest four survive and can still complete
    for frame in bam_frames(0xFEEB, TEXT, 9)[1:]:
        result = receiver.feed(frame.can_id, frame.data, now=0.1)
    assert result.message is not None and result.message.source_address == 9


def test_other_traffic_is_ignored() -> None:
    receiver = TransportReceiver(own_address=ME)
    assert receiver.feed(0x19FEDA80, bytes(8), now=0.0).message is None
    # an RTS between two other nodes is not ours to answer
    other = compose_id(0xEC00, PEER, 7, 0x33)
    assert receiver.feed(other, bytes((16, 18, 0, 3, 255, 0xEB, 0xFE, 0)), now=0.0).frames == ()
    assert receiver.session_count == 0


_IDS = st.builds(
    lambda pf, destination, source: compose_id(pf << 8, source, 7, destination),
    st.sampled_from([0xEC, 0xEB]), st.sampled_from([ME, 0xFF, 0x33]), st.integers(0, 7),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_IDS, st.binary(min_size=0, max_size=8), st.floats(0, 5)), max_size=60))
def test_fuzz_never_raises_and_stays_bounded(frames: list[tuple[int, bytes, float]]) -> None:
    receiver = TransportReceiver(own_address=ME, max_sessions=3)
    for can_id, data, now in sorted(frames, key=lambda f: f[2]):
        result = receiver.feed(can_id, data, now)
        assert receiver.session_count <= 3
        if result.message is not None:
            assert 9 <= len(result.message.data) <= 1785
        receiver.expire(now)
    assert receiver.session_count <= 3


_ANNOUNCEMENTS = st.builds(
    lambda control, size, dgn: bytes((control, size & 0xFF, size >> 8, (size + 6) // 7, 0xFF, dgn & 0xFF,
                                      (dgn >> 8) & 0xFF, dgn >> 16)),
    st.sampled_from([16, 32, 255]), st.integers(9, 60), st.sampled_from([0xFEEB, 0x1FECA]),
)
_DATA = st.builds(lambda seq, rest: bytes((seq,)) + rest, st.integers(0, 10), st.binary(min_size=7, max_size=7))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from([ME, 0xFF]), st.booleans(),
                          st.one_of(_ANNOUNCEMENTS, _DATA)), max_size=80))
def test_fuzz_structured_frames(frames: list[tuple[int, int, bool, bytes]]) -> None:
    receiver = TransportReceiver(own_address=ME, max_sessions=2)
    for step, (source, destination, is_cm, data) in enumerate(frames):
        can_id = compose_id(0xEC00 if is_cm else 0xEB00, source, 7, destination)
        result = receiver.feed(can_id, data, now=step * 0.05)
        assert receiver.session_count <= 2
        if result.message is not None:
            assert len(result.message.data) >= 9
    stats = receiver.stats
    assert stats.evicted >= 0 and stats.completed >= 0


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=9, max_size=100), st.randoms(use_true_random=False))
def test_shuffled_bam_never_raises(data: bytes, rng: object) -> None:
    frames = bam_frames(0xFEEB, data, PEER)
    order = frames[1:]
    rng.shuffle(order)  # type: ignore[attr-defined]
    receiver = TransportReceiver(own_address=ME)
    messages = [receiver.feed(f.can_id, f.data, 0.0).message for f in [frames[0], *order]]
    if order == frames[1:]:
        assert messages[-1] is not None and messages[-1].data == data
    else:
        assert all(m is None for m in messages)


def test_unpadded_last_packet_is_accepted() -> None:
    receiver = TransportReceiver()
    frames = bam_frames(0xFEEB, TEXT, PEER)
    for frame in frames[:-1]:
        receiver.feed(frame.can_id, frame.data, 0.0)
    result = receiver.feed(frames[-1].can_id, frames[-1].data[:5], 0.0)
    assert result.message is not None and result.message.data == TEXT


def test_listener_without_address_never_answers_rts() -> None:
    receiver = TransportReceiver()  # own address 0xFF: listen to broadcasts only
    result = receiver.feed(*_cm(PEER, 0xFF, bytes((16, 18, 0, 3, 255, 0xEB, 0xFE, 0))), now=0.0)
    assert result.frames == () and receiver.session_count == 0
