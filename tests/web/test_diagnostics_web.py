"""The Diagnostics view in a real browser: a fault raised on the simulated coach appears on its
device's card, turns "Previously active" when cleared (pushed by the WebSocket), and the history is
cleared from the page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess, start_server
from tests.web.test_web import CHROMIUM, TIMEOUT_MS, _launch, _unavailable

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # reported below: a failure in CI, a skip elsewhere
    sync_playwright = None  # type: ignore[assignment]

ENV = {"COACHIQ_COACH": "class_a_diesel", "COACHIQ_FEATURE_DIAGNOSTICS": "true"}
FAULT = {"entity_id": "awning.patio", "spn": 5, "fmi": 4}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    running = start_server(tmp_path / "data", env=ENV)
    try:
        yield running
    finally:
        running.stop()


def test_a_fault_shows_on_its_device_and_history_clears(server: ServerProcess) -> None:
    if sync_playwright is None:
        _unavailable("playwright is not installed (pip install playwright==1.65.2)")
    if not Path(CHROMIUM).exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        browser = _launch(playwright)
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.set_default_timeout(TIMEOUT_MS)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(server.base_url + "/#/diagnostics")
        expect(page.locator("#link-status")).to_have_class("link-status live")
        expect(page.locator(".diagnostics .empty")).to_have_text("No trouble codes reported.")

        assert httpx.post(server.base_url + "/api/v2/sim/fault", json=FAULT, timeout=5).status_code == 200
        card = page.locator(".diagnostics article", has=page.locator("h3", has_text="Awning"))
        expect(card).to_have_count(1)
        code = card.locator("li.dtc")
        expect(code).to_have_attribute("data-status", "active")
        expect(code.locator("strong")).to_have_text("Node power supply (SPN 5)")
        expect(code.locator(".sub")).to_contain_text("Short circuit to low voltage")

        assert httpx.post(server.base_url + "/api/v2/sim/fault", json={**FAULT, "active": False},
                          timeout=5).status_code == 200
        expect(code).to_have_attribute("data-status", "previously_active")

        clear = page.get_by_role("button", name="Clear history")
        clear.click()
        page.get_by_role("button", name="Confirm: clear past codes").click()
        expect(page.locator(".diagnostics .empty")).to_have_text("No trouble codes reported.")
        assert errors == []
        browser.close()

