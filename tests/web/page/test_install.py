"""Installing the page on a phone: the web app manifest, its icons, and the saved copy that opens offline."""

from __future__ import annotations

import contextlib

from tests.web.page.browser import TIMEOUT_MS, Coach, screenshot, watch_errors

with contextlib.suppress(ImportError):  # the browser fixture reports a missing playwright
    from playwright.sync_api import Browser, expect


def test_manifest_names_icons_that_are_served(coach: Coach) -> None:
    manifest = coach.get("/manifest.webmanifest")
    assert manifest["display"] == "standalone"
    assert manifest["start_url"].startswith("/")
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    assert any(icon.get("purpose") == "maskable" for icon in manifest["icons"])
    for icon in manifest["icons"]:
        assert coach.get_raw(icon["src"]).status_code == 200, icon["src"]


def test_the_saved_copy_opens_offline_and_says_so(browser: Browser, coach: Coach) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        errors = watch_errors(page)
        page.goto(coach.url + "/#/dashboard")
        expect(page.locator("#link-status")).to_have_class("link-status live")
        page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=TIMEOUT_MS)
        context.set_offline(True)
        saved = page.reload()
        # The saved copy runs under the server's policy, and keeps neither the values nor who signed in.
        assert saved is not None and saved.from_service_worker
        assert "connect-src 'self'" in saved.headers["content-security-policy"]
        assert saved.headers["x-content-type-options"] == "nosniff"
        kept = page.evaluate("async () => (await (await caches.match('/')).text())")
        assert "data-offline-copy" in kept and "-snapshot" not in kept
        expect(page.locator("#offline-banner")).to_be_visible()
        expect(page.locator("#offline-banner")).to_contain_text("You are offline")
        expect(page.locator("main")).to_contain_text("Waiting for the coach")
        expect(page.locator("main")).not_to_contain_text("No tanks")
        screenshot(page, "phone-light-offline-copy")
        context.set_offline(False)
        expect(page.locator("#link-status")).to_have_class("link-status live", timeout=15_000)
        expect(page.locator("#offline-banner")).to_be_hidden()
        assert [e for e in errors if "ERR_INTERNET_DISCONNECTED" not in e] == []
    finally:
        context.close()
