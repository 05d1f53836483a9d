"""What the page tells the owner is true: unknown is never shown as safe, failures say what to do, buttons
follow the device, numbers carry their units and precision, and the page works by keyboard and screen reader.

Each test drives the real page in Chromium against the simulated coach (one shared server, see conftest.py).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from coachiq.web import CONTENT_SECURITY_POLICY, WEB_DIR
from tests.web.page.browser import TIMEOUT_MS, Coach, Tab, screenshot, show

with contextlib.suppress(ImportError):  # the browser fixture reports a missing playwright
    from playwright.sync_api import Browser, BrowserContext, Page, Route, WebSocketRoute, expect


def _wait_for(predicate: Callable[[], bool], timeout: float = 15, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _state(coach: Coach, entity_id: str) -> dict[str, Any]:
    state: dict[str, Any] = coach.get(f"/api/v2/entities/{entity_id}")["state"]
    return state


class Link:
    """The page's way to the server, which a test can cut (requests refused, the WebSocket closed)."""

    def __init__(self, context: BrowserContext, cut: bool = False) -> None:
        self.cut = cut
        self.sockets: list[WebSocketRoute] = []
        context.route_web_socket(re.compile(r".*/api/v2/ws$"), self._socket)
        context.route(re.compile(r".*/(api/v2|health)(/.*)?(\?.*)?$"), self._request)

    def _socket(self, ws: WebSocketRoute) -> None:
        if self.cut:
            ws.close()
            return
        ws.connect_to_server()
        self.sockets.append(ws)

    def _request(self, route: Route) -> None:
        if self.cut:
            route.abort("connectionrefused")
        else:
            route.continue_()

    def cut_now(self) -> None:
        self.cut = True
        for ws in self.sockets:
            ws.close()
        self.sockets.clear()


@pytest.fixture
def offline_page(browser: Browser, coach: Coach) -> Iterator[tuple[Page, Link]]:
    context = browser.new_context(viewport={"width": 390, "height": 844}, service_workers="block")
    link = Link(context, cut=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    try:
        yield page, link
    finally:
        context.close()


# ---- 3, 4, 5: nothing heard is unknown, never safe; a failed stop says what to do ----

def test_a_page_that_never_reached_the_coach_shows_nothing_as_safe_or_empty(offline_page: tuple[Page, Link],
                                                                            coach: Coach) -> None:
    page, _ = offline_page
    # The page as a cached shell has it (the server's page carries the coach's values in it).
    shell = (WEB_DIR / "index.html").read_bytes()
    page.route(coach.url + "/", lambda route: route.fulfill(
        body=shell, content_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY}))
    page.goto(coach.url + "/#/dashboard")
    expect(page.locator("#link-status")).to_have_class(re.compile(r"\bdown\b"))
    expect(page.locator("main")).to_contain_text("Waiting for the coach")
    expect(page.locator("main")).not_to_contain_text("No tanks")
    show(page, "motion")
    expect(page.locator("main")).not_to_contain_text("allowed")
    expect(page.locator("main")).not_to_contain_text("May move")
    # STOP cannot reach the coach: the owner is told so plainly, and what to do instead.
    page.locator("#estop").click()
    failed = page.locator("#estop-failed")
    expect(failed).to_be_visible()
    expect(failed).to_contain_text("did not reach the coach")
    expect(failed).to_contain_text("coach's own switches")
    screenshot(page, "phone-light-stop-failed")


def test_interlocks_read_unknown_once_the_link_is_lost(browser: Browser, coach: Coach) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, service_workers="block")
    try:
        link = Link(context)
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(coach.url + "/#/motion")
        expect(page.locator("#link-status")).to_have_class("link-status live")
        interlocks = page.locator("#interlocks")
        expect(interlocks).to_contain_text("Motion allowed")
        link.cut_now()
        expect(page.locator("#link-status")).to_have_class(re.compile(r"\bdown\b"))
        expect(interlocks).not_to_contain_text("allowed")
        expect(interlocks).not_to_contain_text("May move")
        expect(interlocks).to_contain_text("Unknown")
        expect(page.locator("main")).not_to_contain_text("Ready")
    finally:
        context.close()


def test_a_stop_that_gets_no_answer_times_out_with_the_plain_message(tab: Tab) -> None:
    page = tab.page
    held: list[Route] = []
    # The request is taken and never answered, as by a server that hangs.
    page.route("**/api/v2/safety/emergency-stop", lambda route: held.append(route))
    started = time.monotonic()
    page.locator("#estop").click()
    failed = page.locator("#estop-failed")
    expect(failed).to_be_visible(timeout=8000)
    assert time.monotonic() - started < 8
    expect(failed).to_contain_text("did not reach the coach")
    expect(failed).to_contain_text("coach's own switches")
    assert held, "the emergency stop request was never sent"


# ---- 1, 8: the thermostat shows what the device confirmed, and a refusal once, as a refusal ----

def test_a_half_degree_set_point_reads_at_its_precision(tab: Tab, coach: Coach) -> None:
    page = tab.page
    show(page, "climate")
    zone = page.locator("article[data-type=thermostat]").first
    entity_id = zone.get_attribute("data-entity")
    before = _state(coach, entity_id)["cool_setpoint"]
    zone.get_by_role("button", name="Raise Cool to").click()
    expect(zone.locator(".cmd")).to_have_attribute("data-status", "confirmed")
    assert _state(coach, entity_id)["cool_setpoint"] == before + 0.5
    expected = f"{before + 0.5:.1f}".replace(".0", "")
    expect(zone.locator(".stepper .value").nth(1)).to_have_text(re.compile(rf"^{re.escape(expected)}\s?°C$"))
    assert tab.errors == []


def test_the_ac_fan_and_a_refused_set_point_are_told_right(tab: Tab, coach: Coach) -> None:
    page = tab.page
    show(page, "climate")
    zone = page.locator("article[data-entity='thermostat.rear']")  # a zone no other test changes
    entity_id = "thermostat.rear"
    state = _state(coach, entity_id)
    assert state["ac_fan_speed"] == 100.0
    assert state["fan_speed"] == 0.0
    expect(zone).not_to_contain_text("fan 0%")
    expect(zone).to_contain_text(re.compile(r"fan 100\s?%"))
    raise_heat = zone.get_by_role("button", name="Raise Heat to")
    steps = int((state["cool_setpoint"] - state["heat_setpoint"]) / 0.5) + 1
    for _ in range(steps):
        raise_heat.click()
    cmd = zone.locator(".cmd")
    expect(cmd).to_have_attribute("data-status", re.compile("invalid|refused"))
    expect(cmd).to_contain_text("refused")
    expect(cmd).not_to_contain_text("not sent")
    # Said once, on the card the owner is looking at: no stack of toasts on top.
    expect(page.locator("#toasts .toast")).to_have_count(0)
    assert tab.errors == []


# ---- 2, 6: locked out while driving; a stop by the coach says why ----

def test_home_says_slides_are_locked_out_while_driving(tab: Tab, coach: Coach) -> None:
    page = tab.page
    tile = page.locator("a.tile[href='#/motion']")
    expect(tile).to_contain_text("Ready")
    try:
        assert coach.post("/api/v2/sim/chassis", {"moving": True, "park_brake": False}).status_code == 200
        expect(tile).to_contain_text("Locked out")
        expect(tile).not_to_contain_text("Ready")
    finally:
        assert coach.post("/api/v2/sim/chassis", {"moving": False, "park_brake": True}).status_code == 200
    expect(tile).to_contain_text("Ready", timeout=15_000)


def test_a_motion_stopped_by_the_coach_says_why_on_the_card(tab: Tab, coach: Coach) -> None:
    page = tab.page
    show(page, "motion")
    slide = page.locator("article[data-type=slide]").first
    entity_id = slide.get_attribute("data-entity")
    retract = slide.locator("button.hold[data-command=retract]")
    expect(retract).to_be_enabled(timeout=15_000)
    retract.hover()
    page.mouse.down()
    try:
        _wait_for(lambda: _state(coach, entity_id)["motion"] == "retracting", what="the slide to retract")
        assert coach.post("/api/v2/sim/chassis", {"moving": True, "park_brake": False}).status_code == 200
        _wait_for(lambda: _state(coach, entity_id)["motion"] == "stopped", what="the coach to stop the slide")
        # Which interlock the coach names first depends on which frame it saw first: either is the truth.
        expect(slide.locator(".cmd")).to_contain_text("Stopped by the coach")
        expect(slide.locator(".cmd")).to_contain_text(re.compile("moving|park brake"))
        expect(slide.locator(".cmd")).not_to_contain_text("confirmed")
    finally:
        page.mouse.up()
        assert coach.post("/api/v2/sim/chassis", {"moving": False, "park_brake": True}).status_code == 200
    expect(retract).to_be_enabled(timeout=15_000)


# ---- 7: buttons follow the device and speak the owner's words ----

def test_generator_and_inverter_buttons_follow_the_device(tab: Tab, coach: Coach) -> None:
    page = tab.page
    show(page, "power")
    gen = page.locator("article[data-type=generator]")
    start = gen.get_by_role("button", name="Start", exact=True)
    stop = gen.get_by_role("button", name="Stop", exact=True)
    expect(start).to_be_enabled()
    expect(stop).to_be_disabled()
    expect(gen.locator(".stats")).not_to_contain_text("Load", use_inner_text=True)
    start.click()
    try:
        _wait_for(lambda: _state(coach, "generator.main")["status"] == "running", what="the generator to run")
        expect(stop).to_be_enabled()
        expect(start).to_be_disabled()
        expect(gen.locator(".big")).to_have_text("Running")
        expect(gen.locator(".badge")).not_to_have_text("Running")
    finally:
        coach.post("/api/v2/entities/generator.main/commands", {"command": "stop"})
    _wait_for(lambda: _state(coach, "generator.main")["status"] == "stopped", what="the generator to stop")
    expect(start).to_be_enabled()
    expect(gen.locator(".stats")).not_to_contain_text("Load", use_inner_text=True)

    inverter = page.locator("article[data-type=inverter]")
    on = inverter.get_by_role("button", name="Turn on", exact=True)
    off = inverter.get_by_role("button", name="Turn off", exact=True)
    assert _state(coach, "inverter.main")["enabled"] is True
    expect(on).to_be_disabled()
    off.click()
    expect(inverter.locator(".cmd")).to_contain_text("Turn off: confirmed")
    expect(on).to_be_enabled()
    expect(off).to_be_disabled()
    on.click()
    expect(inverter.locator(".cmd")).to_contain_text("Turn on: confirmed")
    assert tab.errors == []


# ---- 9: one formatter per quantity, units always ----

def test_one_reading_reads_the_same_everywhere_with_its_unit(tab: Tab) -> None:
    page = tab.page
    tile = page.locator("a.tile", has_text="Chassis")
    home_text = tile.locator(".big").inner_text()
    show(page, "power")
    card = page.locator("article[data-entity='battery.chassis']")
    assert card.locator(".big").inner_text() == home_text
    gen = page.locator("article[data-type=generator]")
    gen.locator("details summary").click()
    values = gen.locator("details dd").all_inner_texts()
    assert values, "no readings listed"
    bare = [v for v in values if re.fullmatch(r"[-\d.,\s]+", v)]
    assert bare == [], f"readings without a unit: {bare}"


# ---- 10: the page works for keyboard and screen-reader users ----

def test_names_match_the_visible_text_and_there_is_one_live_region(tab: Tab) -> None:
    page = tab.page
    show(page, "motion")
    mismatched = page.evaluate(r"""() => [...document.querySelectorAll('main button')].filter((b) => {
        const words = (t) => t.replace(/\s+/g, ' ').trim().toLowerCase();
        const seen = words([...b.childNodes].filter((n) => !n.classList?.contains('visually-hidden'))
            .map((n) => n.innerText ?? n.textContent).join(' '));
        const name = words(b.getAttribute('aria-label') || b.textContent);
        return seen && !name.includes(seen);
    }).map((b) => b.getAttribute('aria-label') + ' / ' + b.innerText)""")
    assert mismatched == []
    live = page.evaluate("document.querySelectorAll("
                         "'[aria-live]:not([aria-live=off]), [role=status], [role=log], output').length")
    assert live == 1


def test_touch_targets_are_large_and_focus_is_never_under_the_bars(tab: Tab) -> None:
    page = tab.page
    for view in ("lights", "motion"):
        show(page, view)
        small = page.evaluate("""() => [...document.querySelectorAll(
            'main button, main a, main input, main select, main summary, .tabs a, .topbar button')]
            .filter((el) => el.offsetParent !== null)
            .map((el) => [el, el.getBoundingClientRect()])
            .filter(([, r]) => r.width < 44 || r.height < 44)
            .map(([el, r]) => `${el.tagName} ${el.getAttribute('aria-label') || el.textContent.trim()}`
                + ` ${r.width}x${r.height}`)""")
        assert small == [], f"{view}: {small}"
    show(page, "lights")
    page.locator("main h1").focus()
    hidden: list[str] = []
    for _ in range(40):
        page.keyboard.press("Tab")
        where = page.evaluate("""() => {
            const el = document.activeElement;
            // The skip link shows on top of the header by design.
            if (!el || el === document.body || el.closest('.tabs, .top, .skip-link')) return null;
            const r = el.getBoundingClientRect();
            const top = document.querySelector('.top').getBoundingClientRect().bottom;
            const bottom = document.querySelector('.tabs').getBoundingClientRect().top;
            const under = r.top < top - 1 || r.bottom > bottom + 1;
            return under ? `${el.tagName} ${el.textContent.trim()} ${r.top}-${r.bottom}` : null;
        }""")
        if where:
            hidden.append(where)
    assert hidden == []


def test_a_screen_reader_can_move_a_slide_without_holding(tab: Tab, coach: Coach) -> None:
    page = tab.page
    show(page, "motion")
    slide = page.locator("article[data-type=slide]").nth(1)
    entity_id = slide.get_attribute("data-entity")
    extend = slide.locator("button.hold[data-command=extend]")
    expect(extend).to_be_enabled(timeout=15_000)
    # A screen reader activates a button with a click event and no pointer or key held.
    extend.evaluate("b => b.click()")
    expect(extend).to_have_attribute("aria-pressed", "true")
    _wait_for(lambda: _state(coach, entity_id)["motion"] == "extending", what="the slide to extend")
    extend.evaluate("b => b.click()")
    expect(extend).to_have_attribute("aria-pressed", "false")
    _wait_for(lambda: _state(coach, entity_id)["motion"] == "stopped", what="the slide to stop")


# ---- 11: the owner's views speak the owner's words ----

def test_the_system_view_has_no_developer_words(tab: Tab) -> None:
    page = tab.page
    show(page, "system")
    main = page.locator("main")
    expect(main.locator("dd").first).to_be_visible()
    page.wait_for_timeout(300)  # the panels are polled: let the first round land
    text = main.inner_text()
    for word in ("class_a_diesel", "DGN", "YAML", "coalesce", "0x"):
        assert word not in text, f"{word!r} on the System view"
    main.get_by_role("link", name="Diagnostics").click()
    expect(page.locator("main")).to_have_attribute("data-view", "diagnostics")
    expect(page.locator("main table").first).to_be_visible()


# ---- 12: cards keep their size; sliders and dimmers keep the owner's level ----

def test_cards_keep_their_height_and_a_dimmer_keeps_its_level(tab: Tab, coach: Coach) -> None:
    page = tab.page
    show(page, "lights")
    card = page.locator("article[data-entity='light.bedroom_ceiling']")
    switch = card.locator("button[role=switch]")
    slider = card.locator("input[type=range]")
    height = card.bounding_box()["height"]
    slider.fill("70")
    expect(card.locator(".cmd")).to_have_attribute("data-status", "confirmed")
    assert card.bounding_box()["height"] == height
    # Sample the slider every frame from the release on: it must never show the old level again.
    page.evaluate("""(el) => { window.__seen = []; const tick = () => { window.__seen.push(el.value);
        if (window.__seen.length < 90) requestAnimationFrame(tick); }; requestAnimationFrame(tick); }""",
                  slider.element_handle())
    slider.fill("40")
    expect(card.locator(".cmd")).to_have_attribute("data-status", "confirmed")
    _wait_for(lambda: page.evaluate("() => window.__seen.length") >= 90, what="90 frames")
    seen = page.evaluate("window.__seen")
    assert "70" not in seen[seen.index("40"):], f"the slider went back to 70 after release: {seen}"
    switch.click()
    _wait_for(lambda: _state(coach, "light.bedroom_ceiling")["on"] is False, what="the light to go off")
    switch.click()
    _wait_for(lambda: _state(coach, "light.bedroom_ceiling")["on"] is True, what="the light to come on")
    expect(card.locator(".cmd")).to_have_attribute("data-status", "confirmed")
    assert _state(coach, "light.bedroom_ceiling")["brightness"] == 40.0
    assert card.bounding_box()["height"] == height
    assert tab.errors == []


def test_a_windshield_shade_is_locked_out_while_driving_and_says_why(tab: Tab, coach: Coach) -> None:
    page = tab.page
    show(page, "motion")
    shade = page.locator("article[data-entity='shade.windshield']")
    lower = shade.locator("button.hold[data-command=extend]")
    other = page.locator("article[data-entity='shade.living_room'] button.hold[data-command=extend]")
    expect(lower).to_be_enabled()
    try:
        assert coach.post("/api/v2/sim/chassis", {"moving": True, "park_brake": False}).status_code == 200
        # The windshield shade is position-critical: the server says why it may not move while the coach
        # drives, and the card shows that reason on its disabled controls. A shade that is not
        # position-critical stays free to move.
        expect(lower).to_be_disabled()
        reason = shade.locator(".reason")
        expect(reason).to_contain_text("moving")
        assert lower.get_attribute("aria-describedby") == reason.get_attribute("id")
        expect(other).to_be_enabled()
        lower.hover(force=True)
        page.mouse.down()
        expect(lower).to_have_attribute("aria-pressed", "false")
        expect(shade.locator(".cmd")).not_to_contain_text("confirmed")
    finally:
        page.mouse.up()
        assert coach.post("/api/v2/sim/chassis", {"moving": False, "park_brake": True}).status_code == 200
    assert _state(coach, "shade.windshield")["motion"] == "stopped"
