"""The Chassis card in a real browser: hidden while parked, shown on the home view while driving, with the
readings of the chassis J1939 bus (the j1939 feature on the simulated Class A coach)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess, start_server
from tests.e2e.conftest import wait_for
from tests.web.page.browser import TIMEOUT_MS

with contextlib.suppress(ImportError):  # the browser fixture reports it
    from playwright.sync_api import Browser, expect


@pytest.fixture(scope="module")
def j1939_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder: Path = tmp_path_factory.mktemp("web-j1939")
    server = start_server(folder / "data", env={"COACHIQ_COACH": "class_a_diesel", "COACHIQ_FEATURE_J1939": "true"})
    try:
        yield server
    finally:
        server.stop()


def test_chassis_card_shows_while_driving(browser: Browser, j1939_server: ServerProcess) -> None:
    base = j1939_server.base_url
    wait_for(lambda: httpx.get(base + "/api/v2/entities/chassis.engine").json().get("available"))
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(base + "/#/dashboard")
        expect(page.locator("#link-status")).to_have_class("link-status live")
        section = page.locator("section", has=page.locator("h2", has_text="Chassis"))
        expect(section).to_be_hidden()
        assert httpx.post(base + "/api/v2/sim/chassis", json={"moving": True, "park_brake": False}).status_code == 200
        expect(section).to_be_visible(timeout=15_000)
        card = section.locator('article[data-entity="chassis.engine"]')
        expect(card.locator("dt", has_text="Gear").locator("xpath=following-sibling::dd")).to_have_text("Forward 6")
        expect(card.locator("dt", has_text="Coolant")).to_be_visible()
        expect(card.locator("dt", has_text="Engine hours")).to_be_visible()
        expect(card.locator(".badge")).to_have_text("Brake off")
        assert card.evaluate("el => el.querySelectorAll('*').length") > 10
        httpx.post(base + "/api/v2/sim/chassis", json={"moving": False, "park_brake": True})
        expect(section).to_be_hidden(timeout=20_000)
        assert errors == []
    finally:
        context.close()
