"""The leveling card in a real browser against a real server on the simulated Class A coach.

Auto level from the page levels the coach, a held jack button moves that jack and releasing it stops
it, retract all stores the jacks, and every control is disabled with the reason while the coach drives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.e2e.conftest import wait_for
from tests.web.page.browser import Coach, Tab
from tests.web.page.browser import screenshot as _screenshot
from tests.web.page.browser import show as _show

LEVELING = "article[data-entity='jack.leveling']"


def _state(coach: Coach) -> Any:
    return coach.get("/api/v2/entities/jack.leveling")["state"]


def _until(coach: Coach, check: Callable[[Any], bool], timeout: float = 30) -> None:
    """Poll the server until the leveling entity's state satisfies `check`.

    Polled from here, not with page.wait_for_function: that does not wait for a promise, so a check
    made with fetch() inside it is always true at once.
    """
    wait_for(lambda: check(_state(coach)), timeout=timeout)


def test_leveling_card_levels_moves_and_stores_the_jacks(tab: Tab, coach: Coach) -> None:
    from playwright.sync_api import expect

    page = tab.page
    _show(page, "motion")
    card = page.locator(LEVELING)
    expect(card).to_be_visible()
    expect(card.locator(".big")).to_have_text("Not level")  # the simulated site slopes
    expect(card.locator(".stats")).to_contain_text("nose low")
    auto = card.get_by_role("button", name="Auto level")
    expect(auto).to_be_enabled(timeout=15_000)
    auto.click()
    expect(card.locator(".big")).to_have_text("Leveling…")
    expect(card.locator(".big")).to_have_text("Level", timeout=30_000)
    state = _state(coach)
    assert state["level"] is True and abs(state["pitch"]) <= 0.25 and abs(state["roll"]) <= 0.25
    expect(card.locator("[data-jack=left_front] .jack-state")).to_have_text("On the ground")
    _screenshot(page, "phone-leveling-level")

    # Hold "extend" of the left front jack: it extends while held and stops on release.
    card.locator("details.manual summary").click()
    _screenshot(page, "phone-leveling-manual")
    extend = card.locator("[data-jack=left_front] button.hold[data-command=extend]")
    extend.hover()
    page.mouse.down()
    try:
        expect(extend).to_have_class("hold holding")
        _until(coach, lambda s: s["jacks"]["left_front"]["motion"] == "extending"
               and s["mode"] == "manual_hydraulic_four_point", timeout=10)
        expect(card.locator("[data-jack=left_front] .jack-state")).to_have_text("Extending")
    finally:
        page.mouse.up()
    _until(coach, lambda s: s["motion"] == "stopped" and s["jacks"]["left_front"]["motion"] == "stopped", timeout=10)
    expect(extend).not_to_have_class("hold holding")

    card.get_by_role("button", name="Retract all jacks").click()
    expect(card.locator(".big")).to_have_text("Retracting…")
    _until(coach, lambda s: s["stored"] is True and s["mode"] == "inactive")
    expect(card.locator(".badge")).to_have_text("Stored")
    assert tab.errors == []


def test_leveling_controls_are_disabled_with_the_reason_while_the_coach_moves(tab: Tab, coach: Coach) -> None:
    from playwright.sync_api import expect

    page = tab.page
    _show(page, "motion")
    card = page.locator(LEVELING)
    auto = card.get_by_role("button", name="Auto level")
    expect(auto).to_be_enabled(timeout=15_000)
    try:
        assert coach.post("/api/v2/sim/chassis", {"moving": True, "park_brake": False}).status_code == 200
        expect(auto).to_be_disabled()
        expect(card.get_by_role("button", name="Retract all jacks")).to_be_disabled()
        expect(card.locator("button.hold").first).to_be_disabled()
        expect(card.get_by_role("button", name="Stop the leveling jacks")).to_be_enabled()
        reason = card.locator("[id='why-jack.leveling']")
        expect(reason).to_contain_text("moving", ignore_case=True)
        _screenshot(page, "phone-leveling-while-driving")
    finally:
        assert coach.post("/api/v2/sim/chassis", {"moving": False, "park_brake": True}).status_code == 200
    expect(auto).to_be_enabled(timeout=15_000)
    assert tab.errors == []
