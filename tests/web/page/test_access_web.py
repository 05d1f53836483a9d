"""The page with authentication on, in Debian's Chromium: sign-in, pairing a phone end to end, a viewer's
disabled controls, and a cross-site POST carrying the session cookie."""

from __future__ import annotations

import contextlib
import http.server
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.features.authentication.conftest import PASSWORDS, AuthServer, start_auth_server
from tests.web.page.browser import TIMEOUT_MS

with contextlib.suppress(ImportError):  # the browser fixture reports a missing playwright
    from playwright.sync_api import Browser, Page, Request, expect


@pytest.fixture(scope="module")
def coach(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthServer]:
    running = start_auth_server(tmp_path_factory.mktemp("web-auth") / "data")
    try:
        yield running
    finally:
        running.server.stop()


def _page(browser: Browser, errors: list[str]) -> Page:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    return page


def _sign_in(page: Page, url: str, name: str) -> None:
    page.goto(url + "/")
    form = page.locator("#sign-in-form")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Password").fill(PASSWORDS[name])
    form.get_by_role("button", name="Sign in").click()
    expect(page.locator("#account-name")).to_have_text(re.compile(f"^{name} · "))
    expect(page.locator("#link-status")).to_have_class("link-status live")


def test_sign_in_view_before_anything_loads(browser: Browser, coach: AuthServer) -> None:
    errors: list[str] = []
    page = _page(browser, errors)
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    page.on("websocket", lambda socket: asked.append(socket.url))
    try:
        page.goto(coach.url + "/")
        expect(page.locator("#sign-in-form")).to_be_visible()
        expect(page.locator("#pair-form")).to_be_visible()
        expect(page.locator(".tabs")).to_be_hidden()
        # Nothing of the coach is asked for: no entity list (nor is it in the page), safety, stream.
        page.wait_for_load_state("load")
        coach_data = [u for u in asked if re.search(r"/api/v2/(?!access$|auth/)", u)]
        assert coach_data == [], coach_data
        assert page.locator("#entity-snapshot").count() == 0
        assert page.locator("article[data-entity]").count() == 0
        form = page.locator("#sign-in-form")
        form.get_by_label("Name").fill("ada")
        form.get_by_label("Password").fill("not the password")
        form.get_by_role("button", name="Sign in").click()
        expect(form.locator(".form-error")).to_have_text("wrong name or password")
        assert errors == []
    finally:
        page.context.close()


def test_pairing_a_phone_end_to_end(browser: Browser, coach: AuthServer) -> None:
    errors: list[str] = []
    admin = _page(browser, errors)
    phone = _page(browser, errors)
    scanner = _page(browser, errors)
    try:
        _sign_in(admin, coach.url, "ada")
        admin.locator("#account-name").click()  # an admin's name opens the admin view
        admin.get_by_label("Role of the paired device").select_option("operator")
        admin.locator("#pair-make").click()
        code = admin.locator("#pairing-code")
        expect(code).to_have_text(re.compile(r"^\d{6}$"))
        typed_code = code.inner_text()
        expect(admin.locator("img.pairing-qr")).to_be_visible()
        assert admin.locator("img.pairing-qr").evaluate("img => img.naturalWidth") > 0  # the SVG decoded

        # The phone types the code.
        phone.goto(coach.url + "/")
        pair = phone.locator("#pair-form")
        pair.get_by_label("Pairing code").fill(typed_code)
        pair.get_by_label("Name of this device (optional)").fill("galley-tablet")
        pair.get_by_role("button", name="Pair").click()
        expect(phone.locator("#account-name")).to_have_text("galley-tablet · operator")
        expect(phone.locator("#link-status")).to_have_class("link-status live")
        phone.goto(coach.url + "/#/lights")
        switch = phone.locator("article[data-type=light]").first.locator("button[role=switch]")
        expect(switch).to_be_enabled()
        before = switch.get_attribute("aria-checked")
        switch.click()
        expect(switch).not_to_have_attribute("aria-checked", before or "")

        # The same code again is refused.
        scanner.goto(coach.url + "/")
        again = scanner.locator("#pair-form")
        again.get_by_label("Pairing code").fill(typed_code)
        again.get_by_role("button", name="Pair").click()
        expect(again.locator(".form-error")).to_contain_text("unknown, used or expired")

        # A scanned QR code opens the page at /#pair=CODE, which pairs at once.
        admin.get_by_label("Role of the paired device").select_option("viewer")
        admin.locator("#pair-make").click()
        expect(code).not_to_have_text(typed_code)
        scanned_code = code.inner_text()
        scanner.context.close()
        scanner = _page(browser, errors)
        scanner.goto(f"{coach.url}/#pair={scanned_code}")
        expect(scanner.locator("#account-name")).to_have_text(re.compile(r"^device.* · viewer$"))
        names = {u["name"] for u in httpx.get(coach.url + "/api/v2/auth/users", headers=coach.bearer("admin")).json()}
        assert {"galley-tablet", "ada"} <= names
        assert errors == []
    finally:
        for page in (admin, phone, scanner):
            page.context.close()


def test_viewer_sees_controls_disabled_with_the_reason(browser: Browser, coach: AuthServer) -> None:
    errors: list[str] = []
    page = _page(browser, errors)
    try:
        _sign_in(page, coach.url, "vic")
        expect(page.locator("#role-banner")).to_contain_text("viewer role: you can see the coach but not control it")
        page.goto(coach.url + "/#/lights")
        expect(page.locator("article[data-type=light]").first.locator("button[role=switch]")).to_be_disabled()
        page.goto(coach.url + "/#/motion")
        slide = page.locator("article[data-type=slide]").first
        expect(slide.locator(".reason")).to_contain_text("viewer role")
        # The hold buttons are disabled; the card's Stop is not (stopping is never withheld on the page).
        expect(slide.locator(".motion-row button")).to_have_count(3)
        for button in slide.locator(".motion-row button").all():
            if button.inner_text(timeout=TIMEOUT_MS).strip() != "Stop":
                expect(button).to_be_disabled()
        expect(page.locator("#estop")).to_be_enabled()  # anyone signed in may press it
        expect(page.locator("a#account-name")).to_have_count(0)  # no admin view for a viewer
        assert errors == []
    finally:
        page.context.close()


ATTACK = """<!doctype html><html><body>
<form id="f" method="POST" action="{target}/api/v2/safety/emergency-stop/clear"></form>
<script>
fetch("{target}/api/v2/safety/emergency-stop/clear", {{method: "POST", credentials: "include", mode: "no-cors"}})
  .finally(() => document.getElementById("f").submit());
</script></body></html>"""


@pytest.fixture
def foreign_site(coach: AuthServer) -> Iterator[str]:
    """A page on another site (localhost is another site than 127.0.0.1) that posts to the coach."""
    body = ATTACK.format(target=coach.url).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{port}/attack"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_cross_site_post_with_the_session_cookie_is_refused(browser: Browser, coach: AuthServer,
                                                           foreign_site: str) -> None:
    errors: list[str] = []
    page = _page(browser, errors)
    try:
        _sign_in(page, coach.url, "otto")  # an operator, who could clear the emergency stop
        pressed = httpx.post(coach.url + "/api/v2/safety/emergency-stop", headers=coach.bearer("read"))
        assert pressed.json()["emergency_stop"] is True
        requests: list[Request] = []
        page.on("request", lambda r: requests.append(r) if r.url.endswith("/emergency-stop/clear") else None)
        page.goto(foreign_site)
        page.wait_for_url(f"{coach.url}/api/v2/safety/emergency-stop/clear")  # the form post navigated
        assert [r.method for r in requests] == ["POST", "POST"]  # the fetch, then the form
        # The form's navigation has a response, so Playwright knows exactly what the browser sent
        # (the fetch's answer is withheld from the foreign page by Cross-Origin-Resource-Policy).
        form = requests[1].response()
        assert form is not None
        sent = requests[1].all_headers()
        assert "cookie" not in sent  # no session cookie on a cross-site request (SameSite=Strict)...
        assert sent["origin"] == foreign_site.removesuffix("/attack")
        assert form.status == 403  # ...and the Origin check refuses it before the access gate
        assert httpx.get(coach.url + "/api/v2/safety", headers=coach.bearer("read")).json()["emergency_stop"] is True
        # From the coach's own page the same request carries the cookie and is allowed.
        page.goto(coach.url + "/#/dashboard")
        expect(page.locator("#link-status")).to_have_class("link-status live")
        status = page.evaluate("""async () => (await fetch("/api/v2/safety/emergency-stop/clear",
            {method: "POST"})).status""")
        assert status == 200
        assert httpx.get(coach.url + "/api/v2/safety", headers=coach.bearer("read")).json()["emergency_stop"] is False
    finally:
        page.context.close()


def test_screenshots_of_the_access_views(browser: Browser, coach: AuthServer) -> None:
    shots = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    page = _page(browser, errors)
    try:
        page.goto(coach.url + "/")
        expect(page.locator("#sign-in-form")).to_be_visible()
        page.screenshot(path=str(shots / "phone-sign-in.png"))
        _sign_in(page, coach.url, "ada")
        page.goto(coach.url + "/#/admin")
        page.locator("#pair-make").click()
        expect(page.locator("#pairing-code")).to_have_text(re.compile(r"^\d{6}$"))
        expect(page.locator("#user-list li").first).to_be_visible()
        page.screenshot(path=str(shots / "phone-admin.png"), full_page=True)
        assert errors == []
    finally:
        page.context.close()
