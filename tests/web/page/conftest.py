"""One server and one browser for every browser test of this folder; a fresh page per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import start_server
from tests.web.page.browser import CHROMIUM, CHROMIUM_ARGS, COACH_ENV, TIMEOUT_MS, Coach, Tab, unavailable, watch_errors

try:
    from playwright.sync_api import Browser, expect, sync_playwright
except ImportError:  # reported by the fixture below: a failure in CI, a skip elsewhere
    sync_playwright = None  # type: ignore[assignment]


@pytest.fixture(scope="package")
def coach(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Coach]:
    data_dir = tmp_path_factory.mktemp("web") / "data"
    server = start_server(data_dir, env=COACH_ENV)
    port = int(server.base_url.rsplit(":", 1)[1])
    running = Coach(server, port, data_dir)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if sync_playwright is None:
        unavailable("playwright is not installed (pip install playwright==1.65.2)")
    if not Path(CHROMIUM).exists():
        unavailable(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        yield playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)


@pytest.fixture
def tab(browser: Browser, coach: Coach) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 390, "height": 844}, service_workers="block")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors = watch_errors(page)
    page.goto(coach.url + "/#/dashboard")
    expect(page.locator("#link-status")).to_have_class("link-status live")
    try:
        yield Tab(page, errors)
    finally:
        context.close()
