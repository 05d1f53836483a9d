"""The owner's web page in a real browser (Debian's Chromium through Playwright) against a real server.

The server runs the simulated coach. Tests share one server and one browser (conftest.py) and run in file
order: the last one restarts the server on the same port. Screenshots of every view, at phone and tablet
sizes, light and dark, go to test-artifacts/screenshots/ for a person to look at.
"""

from __future__ import annotations

import contextlib
import re
import shutil

from tests.e2e.conftest import wait_for
from tests.web.page.browser import SCREENSHOTS, SIZES, TIMEOUT_MS, VIEWS, Coach, Tab, axe_violations, show, watch_errors
from tests.web.page.browser import screenshot as _screenshot

with contextlib.suppress(ImportError):  # the browser fixture reports a missing playwright
    from playwright.sync_api import Browser, expect

FIRST_LOAD_BUDGET = 100 * 1024
_show = show


def test_every_view_renders_without_errors_or_serious_accessibility_problems(browser: Browser, coach: Coach) -> None:
    """Every view at phone and tablet size, light and dark: a screenshot, no console error, axe-core clean."""
    if SCREENSHOTS.exists():
        shutil.rmtree(SCREENSHOTS)
    SCREENSHOTS.mkdir(parents=True)
    problems: list[str] = []
    for size, (width, height) in SIZES.items():
        for scheme in ("light", "dark"):
            context = browser.new_context(viewport={"width": width, "height": height}, color_scheme=scheme)
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            errors = watch_errors(page)
            page.goto(coach.url + "/", wait_until="load")
            expect(page.locator("#link-status")).to_have_class("link-status live")
            expect(page.locator("article[data-type=tank]").first).to_be_visible()
            for view in VIEWS:
                _show(page, view)
                expect(page.locator("main h1")).to_be_visible()
                if view == "diagnostics":
                    expect(page.locator("main table").first).to_be_visible()
                page.wait_for_timeout(150)  # let the live values and polled panels settle for the picture
                _screenshot(page, f"{size}-{scheme}-{view}")
                # Colour contrast differs by theme, layout by size: axe runs on every combination.
                problems += [f"{size}/{scheme}/{view}: {v}" for v in axe_violations(page)]
            context.close()
            assert errors == [], f"console errors at {size}/{scheme}: {errors}"
    assert problems == [], "\n".join(problems)


def test_light_toggled_in_the_page_is_confirmed(tab: Tab, coach: Coach) -> None:
    page = tab.page
    _show(page, "lights")
    card = page.locator("article[data-type=light]").first
    switch = card.locator("button[role=switch]")
    before = switch.get_attribute("aria-checked")
    switch.click()
    expect(card.locator(".cmd")).to_have_attribute("data-status", "confirmed")
    expect(switch).to_have_attribute("aria-checked", "false" if before == "true" else "true")
    entity_id = card.get_attribute("data-entity")
    state = coach.get(f"/api/v2/entities/{entity_id}")["state"]
    assert state["on"] is (before != "true")
    assert tab.errors == []


def test_brightness_and_set_point_changed_in_the_page_are_confirmed(tab: Tab, coach: Coach) -> None:
    page = tab.page
    _show(page, "lights")
    dimmer = page.locator("article[data-type=light]:has(input[type=range])").first
    dimmer.locator("input[type=range]").fill("40")
    expect(dimmer.locator(".cmd")).to_have_attribute("data-status", "confirmed")
    expect(dimmer.locator(".big")).to_have_text("On · 40\u202f%")
    _show(page, "climate")
    zone = page.locator("article[data-type=thermostat]").first
    entity_id = zone.get_attribute("data-entity")
    before = coach.get(f"/api/v2/entities/{entity_id}")["state"]["cool_setpoint"]
    zone.get_by_label("Raise Cool to").click()
    zone.get_by_label("Raise Cool to").click()
    expect(zone.locator(".cmd")).to_have_attribute("data-status", "confirmed")
    assert coach.get(f"/api/v2/entities/{entity_id}")["state"]["cool_setpoint"] == before + 1.0
    assert tab.errors == []


def test_slide_is_disabled_with_the_reason_while_the_coach_moves(tab: Tab, coach: Coach) -> None:
    page = tab.page
    _show(page, "motion")
    slide = page.locator("article[data-type=slide]").first
    extend = slide.locator("button.hold[data-command=extend]")
    expect(extend).to_be_enabled()
    try:
        assert coach.post("/api/v2/sim/chassis", {"moving": True, "park_brake": False}).status_code == 200
        expect(extend).to_be_disabled()
        expect(slide.locator("button.hold[data-command=retract]")).to_be_disabled()
        reason = slide.locator(".reason")
        expect(reason).to_be_visible()
        expect(reason).to_contain_text("moving", ignore_case=True)
        assert extend.get_attribute("aria-describedby") == reason.get_attribute("id")
        # The interlocks card gives the same reason, the server's.
        expect(page.locator("#interlocks")).to_contain_text(re.compile(r"Why\s*The coach counts as moving"))
        _screenshot(page, "phone-motion-while-driving")
    finally:
        assert coach.post("/api/v2/sim/chassis", {"moving": False, "park_brake": True}).status_code == 200
    expect(extend).to_be_enabled(timeout=15_000)
    expect(slide.locator(".reason")).to_be_hidden()


def test_holding_a_slide_button_moves_it_and_releasing_stops_it(tab: Tab, coach: Coach) -> None:
    page = tab.page
    _show(page, "motion")
    slide = page.locator("article[data-type=slide]").first
    extend = slide.locator("button.hold[data-command=extend]")
    expect(extend).to_be_enabled(timeout=15_000)
    entity_id = slide.get_attribute("data-entity")
    extend.hover()
    page.mouse.down()
    try:
        expect(extend).to_have_class("hold holding")
        # Polled from here: page.wait_for_function does not wait for a promise, so a fetch() inside it
        # would be true at once.
        wait_for(lambda: coach.get(f"/api/v2/entities/{entity_id}")["state"]["motion"] == "extending")
    finally:
        page.mouse.up()
    wait_for(lambda: coach.get(f"/api/v2/entities/{entity_id}")["state"]["motion"] == "stopped")
    expect(extend).not_to_have_class("hold holding")


def test_emergency_stop_from_any_view_and_clear(tab: Tab, coach: Coach) -> None:
    page = tab.page
    _show(page, "lights")
    page.locator("#estop").click()
    expect(page.locator("#estop-banner")).to_be_visible()
    assert coach.get("/api/v2/safety")["emergency_stop"] is True
    _screenshot(page, "phone-emergency-stop")
    _show(page, "motion")
    slide = page.locator("article[data-type=slide]").first
    expect(slide.locator("button.hold[data-command=extend]")).to_be_disabled()
    # The server's reason (its safety gate's words), shown as it says it.
    expect(slide.locator(".reason")).to_contain_text("emergency stop", ignore_case=True)
    page.locator("#estop-clear").click()
    page.locator("#confirm-ok").click()
    expect(page.locator("#estop-banner")).to_be_hidden()
    assert coach.get("/api/v2/safety")["emergency_stop"] is False
    expect(slide.locator("button.hold[data-command=extend]")).to_be_enabled(timeout=15_000)
    assert tab.errors == []


def test_page_recovers_after_the_server_restarts(tab: Tab, coach: Coach) -> None:
    page = tab.page
    _show(page, "lights")
    coach.stop()
    expect(page.locator("#conn-banner")).to_be_visible()
    expect(page.locator("#link-status .link-text")).to_have_text("Offline")
    switch = page.locator("article[data-type=light] button[role=switch]").first
    expect(switch).to_be_disabled()
    _screenshot(page, "phone-disconnected")
    coach.restart()
    expect(page.locator("#link-status .link-text")).to_have_text("Live", timeout=15_000)
    expect(page.locator("#conn-banner")).to_be_hidden()
    switch.click()
    expect(page.locator("article[data-type=light]").first.locator(".cmd")).to_have_attribute(
        "data-status", "confirmed")
