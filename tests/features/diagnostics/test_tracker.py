"""The life cycle of a trouble code: active -> previously active -> cleared, and back."""

from __future__ import annotations

from coachiq.features.diagnostics.codes import Dm1Code, Dm1Report, FaultReport
from coachiq.features.diagnostics.tracker import CodeStatus, Tracker

CAN_ID = 0x19FECA54


def fault(spn: int, fmi: int = 5, *, dsa: int = 84, on: bool = True) -> FaultReport:
    return FaultReport(dsa=dsa, spn=spn, fmi=fmi, occurrence_count=1, red_lamp=False, yellow_lamp=on,
                       operating_status=5, dsa_extension=None, bank=None)


def never(_can_id: int) -> float | None:
    return None


def test_a_code_becomes_active_then_previously_active_when_the_node_reports_no_fault() -> None:
    tracker = Tracker(inactive_after_s=15)
    changed = tracker.observe_dm_rv(0x54, CAN_ID, fault(2078), now=100.0)
    assert [r.status for r in changed] == [CodeStatus.ACTIVE]
    assert tracker.observe_dm_rv(0x54, CAN_ID, fault(2078), now=101.0) == []  # same code again: no change
    record = tracker.active()[0]
    assert (record.first_seen, record.last_seen, record.count) == (100.0, 101.0, 1)
    ended = tracker.observe_dm_rv(0x54, CAN_ID, fault(0, 0, on=False), now=102.0)
    assert [r.status for r in ended] == [CodeStatus.PREVIOUSLY_ACTIVE]
    assert tracker.active() == []


def test_lamps_off_for_one_dsa_leaves_the_codes_of_another_dsa_active() -> None:
    tracker = Tracker()
    tracker.observe_dm_rv(0x54, CAN_ID, fault(300, dsa=84), now=1.0)
    tracker.observe_dm_rv(0x54, CAN_ID, fault(301, dsa=85), now=1.0)
    tracker.observe_dm_rv(0x54, CAN_ID, fault(0, 0, dsa=84, on=False), now=2.0)
    assert [r.key.spn for r in tracker.active()] == [301]


def test_an_unseen_code_ends_after_the_timeout_but_repeats_of_its_identifier_keep_it_active() -> None:
    tracker = Tracker(inactive_after_s=15)
    tracker.observe_dm_rv(0x54, CAN_ID, fault(2078), now=100.0)
    # The receive path filtered the repeats; the identifier was last heard at 120 s: still active at 130.
    assert tracker.sweep(130.0, lambda can_id: 120.0 if can_id == CAN_ID else None) == []
    assert tracker.active()[0].last_seen == 120.0
    ended = tracker.sweep(136.0, lambda _can_id: 120.0)
    assert [r.status for r in ended] == [CodeStatus.PREVIOUSLY_ACTIVE]


def test_repeats_of_an_identifier_count_only_for_the_code_it_carried_last() -> None:
    tracker = Tracker(inactive_after_s=15)
    tracker.observe_dm_rv(0x54, CAN_ID, fault(300), now=100.0)
    tracker.observe_dm_rv(0x54, CAN_ID, fault(301), now=101.0)  # the node now sends only 301
    tracker.sweep(117.0, lambda _can_id: 116.5)
    assert [r.key.spn for r in tracker.active()] == [301]


def test_a_code_that_returns_counts_again_and_clearing_history_keeps_active_codes() -> None:
    tracker = Tracker()
    tracker.observe_dm_rv(0x54, CAN_ID, fault(300), now=1.0)
    tracker.observe_dm_rv(0x54, CAN_ID, fault(0, 0, on=False), now=2.0)
    tracker.observe_dm_rv(0x55, CAN_ID + 1, fault(400), now=2.5)
    cleared = tracker.clear_history(3.0)
    assert [(r.key.spn, r.status) for r in cleared] == [(300, CodeStatus.CLEARED)]
    assert [r.key.spn for r in tracker.active()] == [400]
    again = tracker.observe_dm_rv(0x54, CAN_ID, fault(300), now=4.0)
    assert again[0].status is CodeStatus.ACTIVE and again[0].count == 2 and again[0].first_seen == 1.0
    assert again[0].cleared_at is None


def test_dm1_codes_missing_from_the_next_report_end_at_once() -> None:
    tracker = Tracker()
    first = tracker.observe_dm1(Dm1Report(0x00, (Dm1Code(100, 1, 2), Dm1Code(110, 0)), 10.0, "chassis"))
    assert sorted(r.key.spn for r in first) == [100, 110]
    second = tracker.observe_dm1(Dm1Report(0x00, (Dm1Code(100, 1, 3),), 11.0, "chassis"))
    assert [(r.key.spn, r.status) for r in second] == [(110, CodeStatus.PREVIOUSLY_ACTIVE)]
    assert tracker.observe_dm1(Dm1Report(0x00, (), 12.0))[0].key.spn == 100
    assert tracker.active() == []
    # J1939 codes do not time out: DM1 says when they end.
    tracker.observe_dm1(Dm1Report(0x00, (Dm1Code(100, 1),), 13.0))
    assert tracker.sweep(1000.0, never) == []


def test_memory_is_bounded_by_forgetting_old_history_and_refusing_beyond_all_active() -> None:
    tracker = Tracker(max_codes=3)
    for spn in (1, 2, 3):
        tracker.observe_dm_rv(0x54, CAN_ID, fault(300 + spn), now=float(spn))
    tracker.observe_dm_rv(0x54, CAN_ID, fault(0, 0, on=False), now=4.0)  # all three end
    tracker.observe_dm_rv(0x54, CAN_ID, fault(400), now=5.0)
    assert len(tracker.codes) == 3 and [k.spn for k in tracker.forgotten] == [301]
    tracker.observe_dm_rv(0x54, CAN_ID, fault(401), now=6.0)
    tracker.observe_dm_rv(0x54, CAN_ID, fault(402), now=7.0)
    assert tracker.observe_dm_rv(0x54, CAN_ID, fault(403), now=8.0) == []
    assert tracker.refused == 1 and len(tracker.codes) == 3
