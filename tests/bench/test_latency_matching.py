"""How the full-bus benchmark times an update: from the send of the frame behind it, every update counted."""

from __future__ import annotations

from typing import Any

from coachiq.bench.realtime import frame_latencies

DIMMER = (6 << 26) | (0x1FEDA << 8) | 0x8E
TANK = (6 << 26) | (0x1FFB7 << 8) | 0xAF


def update(stamp: float, dgn: int | None, source: int = 0x8E) -> dict[str, Any]:
    return {"type": "update", "entity_id": "x", "values": {}, "timestamp": stamp,
            "source": None if dgn is None else {"dgn": dgn, "source_address": source}}


def test_an_update_is_timed_from_the_last_frame_of_its_sender_sent_at_or_before_its_stamp() -> None:
    sent = [(10.000, DIMMER, b""), (10.001, TANK, b""), (10.002, DIMMER, b""), (10.004, DIMMER, b"")]
    # The kernel stamps a frame a few µs after the player noted its send; the next frame of that
    # sender was sent later, so it cannot be the one.
    found = frame_latencies([(10.030, update(10.00201, 0x1FEDA)), (10.050, update(10.00102, 0x1FFB7, 0xAF))], sent)
    assert [round(x, 3) for x in found["latencies"]] == [28.0, 49.0]
    assert found["unmatched"] == found["no_frame"] == 0
    assert 0 < found["stamp_lag_max_ms"] < 0.1


def test_updates_without_a_frame_or_a_known_frame_are_counted_not_dropped() -> None:
    sent = [(10.0, DIMMER, b"")]
    found = frame_latencies([(10.1, update(10.0, None)), (10.1, update(9.0, 0x1FEDA)),
                             (10.1, update(10.0, 0x1FFB7, 0xAF)), (10.9, update(10.0, 0x1FEDA))], sent)
    assert found["no_frame"] == 1 and found["unmatched"] == 2
    assert [round(x) for x in found["latencies"]] == [900]  # a slow one counts like any other
