"""The outbox: coalesced state changes, a bound that drops the oldest, results that are never dropped."""

from __future__ import annotations

from coachiq.features.mqtt.outbox import COALESCE_S, Outbox


async def test_changes_of_one_entity_coalesce_into_one_message() -> None:
    outbox = Outbox(max_states=10)
    for n in range(5):
        outbox.state_changed("light.a", float(n))
    due, next_due = outbox.take_due(now=100.0)
    assert due == [("light.a", 4.0)] and next_due is None  # one message, timed by the newest change


async def test_a_change_soon_after_a_send_waits_for_the_window() -> None:
    outbox = Outbox(max_states=10)
    outbox.state_changed("light.a", 1.0)
    assert outbox.take_due(now=100.0)[0] == [("light.a", 1.0)]
    outbox.state_changed("light.a", 2.0)
    outbox.state_changed("light.b", 2.0)
    due, next_due = outbox.take_due(now=100.01)
    assert due == [("light.b", 2.0)] and next_due == 100.0 + COALESCE_S
    assert outbox.take_due(now=100.0 + COALESCE_S)[0] == [("light.a", 2.0)]


async def test_the_oldest_state_is_dropped_when_full_results_never() -> None:
    outbox = Outbox(max_states=10)
    for n in range(15):
        outbox.state_changed(f"light.l{n}", float(n))
    for n in range(50):
        outbox.add_result("t", b"%d" % n)
    assert list(outbox.states) == [f"light.l{n}" for n in range(5, 15)]
    assert outbox.dropped_states == 5
    assert len(outbox.results) == 50
    assert outbox.wake.is_set()
