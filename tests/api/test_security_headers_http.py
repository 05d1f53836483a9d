"""Security headers on every response of a real server, and the API documentation working under its CSP
in Debian's Chromium (the owner's page is covered by tests/web/page/test_web.py under its own CSP)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ServerProcess, start_server

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module, with the api_docs feature on (the default)."""
    running = start_server(tmp_path_factory.mktemp("headers") / "data")
    try:
        yield running
    finally:
        running.stop()


def _directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for directive in policy.split(";"):
        name, *values = directive.split()
        parsed[name] = values
    return parsed


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/health"), ("GET", "/metrics"), ("GET", "/openapi.json"),
    ("GET", "/api/v2/entities"), ("GET", "/api/v2/entities?type=light"), ("GET", "/api/v2/safety"),
    ("GET", "/no/such/page"), ("POST", "/api/v2/entities/commands"), ("GET", "/"), ("GET", "/app.js"),
    ("GET", "/docs"), ("GET", "/redoc"), ("GET", "/docs-assets/swagger-ui-bundle.js"),
])
def test_every_response_carries_the_security_headers(server: ServerProcess, method: str, path: str) -> None:
    response = httpx.request(method, server.base_url + path, json={} if method == "POST" else None)
    headers = response.headers
    policy = _directives(headers["content-security-policy"])
    assert policy["default-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in policy.get("script-src", []) and "'unsafe-eval'" not in policy.get("script-src", [])
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-frame-options"] == "DENY"
    assert headers.get_list("content-security-policy") == [headers["content-security-policy"]]  # one policy


def test_refusals_carry_them_too(server: ServerProcess) -> None:
    for response in (httpx.get(server.base_url + "/healthz", headers={"Host": "attacker.example"}),
                     httpx.post(server.base_url + "/api/v2/safety/emergency-stop", headers={"Origin": "http://x.example"}),
                     httpx.get(server.base_url + "/healthz", headers={f"x-{i}": "1" for i in range(70)})):
        assert response.status_code in (403, 421, 431)
        if response.status_code != 431:  # the protocol's own answer, before any route, is plain text
            assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def _browser_available() -> None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        reason = "playwright is not installed"
    else:
        if Path(CHROMIUM).exists():
            return
        reason = f"{CHROMIUM} is missing (apt-get install -y chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser tests cannot run: {reason}")
    pytest.skip(reason)


@pytest.mark.parametrize(("path", "rendered"), [("/docs", ".opblock-tag"), ("/redoc", "[role=menuitem], li label")])
def test_the_api_documentation_renders_under_its_policy(server: ServerProcess, path: str, rendered: str) -> None:
    _browser_available()
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda exc: problems.append(f"uncaught: {exc}"))
            response = page.goto(server.base_url + path, wait_until="load")
            assert response is not None and "content-security-policy" in response.headers
            expect(page.locator(rendered).first).to_be_visible(timeout=15_000)
            expect(page.get_by_text("/api/v2/safety/emergency-stop").first).to_be_attached(timeout=15_000)
            page.wait_for_load_state("networkidle")
            violations = [p for p in problems if "Content Security Policy" in p or "Refused to" in p]
            # ReDoc's one load from outside, its makers' logo, is meant to be blocked: nothing leaves the coach.
            outside = [v for v in violations if "https://cdn.redoc.ly/" in v]
            assert violations == outside, violations
            # Embedding is refused: the browser reports frame-ancestors and renders nothing in the frame.
            framed = browser.new_page()
            with framed.expect_console_message(lambda m: "frame-ancestors 'none'" in m.text, timeout=10_000):
                framed.set_content(f'<iframe src="{server.base_url}{path}"></iframe>')
            assert framed.frames[-1].locator(rendered).count() == 0
        finally:
            browser.close()
