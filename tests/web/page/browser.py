"""What the browser tests share: the server under test, Chromium, views, screenshots and axe-core.

The tests of this folder share one server and one browser (fixtures in conftest.py). Screenshots go to
test-artifacts/screenshots/ for a person to look at.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess, start_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "screenshots"
VIEWS = ["dashboard", "lights", "climate", "power", "motion", "system", "settings", "diagnostics"]
SIZES = {"phone": (390, 844), "tablet": (820, 1180)}
TIMEOUT_MS = 10_000
# The Class A example coach has every kind of device the page shows: four slides, an awning, jacks...
COACH_ENV = {"COACHIQ_COACH": "class_a_diesel"}

try:
    from playwright.sync_api import ConsoleMessage, Page
except ImportError:  # reported by the browser fixture: a failure in CI, a skip elsewhere
    Page = Any  # type: ignore[assignment,misc]


def unavailable(reason: str) -> None:
    """Fail in CI (a missing browser there is a failure, never a silent skip), skip elsewhere."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser tests cannot run: {reason}")
    pytest.skip(reason)


@dataclass
class Coach:
    """The server under test; `restart` replaces the process on the same port."""

    server: ServerProcess
    port: int
    data_dir: Path
    log: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.server.base_url

    def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return httpx.post(self.url + path, json=body or {}, timeout=10)

    def get_raw(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10)

    def get(self, path: str) -> Any:
        response = httpx.get(self.url + path, timeout=10)
        response.raise_for_status()
        return response.json()

    def restart(self, timeout: float = 30) -> None:
        """Stop the server and start a new one on the same port (the page must find it again)."""
        self.stop()
        server = start_server(self.data_dir, "--port", str(self.port), env=COACH_ENV, wait_ready=False)
        # The last --port wins, so the new process listens on the old port, not on the one start_server chose.
        server.base_url = f"http://127.0.0.1:{self.port}"
        self.server = server
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                server.stop()
                raise AssertionError(f"restarted server exited with {server.process.returncode}: {server.errors}")
            try:
                if httpx.get(server.base_url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError("restarted server did not become ready in time")

    def stop(self) -> None:
        self.server.stop()


@dataclass
class Tab:
    """A browser page on the coach and the console errors it logged."""

    page: Page
    errors: list[str]


def watch_errors(page: Page) -> list[str]:
    """Collect the page's console errors and uncaught exceptions."""
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    return errors


def screenshot(page: Page, name: str) -> None:
    """Save the whole page; the viewport grows so that the fixed tab bar sits at the bottom of the picture."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    width = page.viewport_size["width"] if page.viewport_size else 390
    base_height = page.viewport_size["height"] if page.viewport_size else 844
    height = max(base_height, int(page.evaluate("document.documentElement.scrollHeight")))
    page.set_viewport_size({"width": width, "height": height})
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
    page.set_viewport_size({"width": width, "height": base_height})


def show(page: Page, view: str) -> None:
    """Open a view by its address and wait until it is the current one."""
    from playwright.sync_api import expect

    page.goto(f"{page.url.split('#')[0]}#/{view}")
    expect(page.locator("main")).to_have_attribute("data-view", view)


def axe_violations(page: Page, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """Run axe-core (the file shipped by the axe-playwright-python package, read from disk) on the page."""
    from axe_playwright_python.base import AXE_FILE_PATH

    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol, which the page's CSP does not govern; never from a CDN.
        page.evaluate(AXE_FILE_PATH.read_text(encoding="utf-8"))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [f"{v['id']} ({v['impact']}): {v['help']} — " + "; ".join(n["target"][0] if isinstance(n["target"][0], str)
            else str(n["target"]) for n in v["nodes"][:4])
            for v in result["violations"] if v["impact"] in impacts]
