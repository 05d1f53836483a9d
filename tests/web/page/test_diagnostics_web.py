"""The Diagnostics view in a real browser: a fault raised on the simulated coach appears on its
device's card, turns "Previously active" when cleared (pushed by the WebSocket), and the history is
cleared from the page."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess, start_server
from tests.web.page.browser import TIMEOUT_MS

with contextlib.suppress(ImportError):  # the package's browser fixture reports a missing playwright
    from playwright.sync_api import Browser, expect

ENV = {"COACHIQ_COACH": "class_a_diesel", "COACHIQ_FEATURE_DIAGNOSTICS": "true"}
FAULT = {"entity_id": "awning.patio", "spn": 5, "fmi": 4}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    running = start_server(tmp_path / "data", env=ENV)
    try:
        yield running
    finally:
        running.stop()


def test_a_fault_shows_on_its_device_and_history_clears(server: ServerProcess, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, service_workers="block")
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(server.base_url + "/#/diagnostics")
        expect(page.locator("#link-status")).to_have_class("link-status live")
        expect(page.locator(".diagnostics .empty")).to_have_text("No trouble codes reported.")
        # One Diagnostics view: the trouble codes sit beside the technician's server and bus detail.
        expect(page.locator("h1")).to_have_count(1)
        expect(page.locator("h1")).to_have_text("Diagnostics")
        expect(page.get_by_role("heading", name="CAN bus")).to_be_visible()

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
    finally:
        context.close()

