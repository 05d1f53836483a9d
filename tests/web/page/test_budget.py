"""The page's budgets, measured in Chromium: what the first load transfers, and how soon the first values of
the coach show on a slow link (300 ms latency, 1 Mbit/s each way, emulated through the DevTools protocol).
"""

from __future__ import annotations

import contextlib
import statistics
from typing import Any

from tests.web.page.browser import TIMEOUT_MS, Coach, watch_errors

with contextlib.suppress(ImportError):  # the browser fixture reports a missing playwright
    from playwright.sync_api import Browser, expect

FIRST_LOAD_BUDGET = 100 * 1024
FIRST_VALUES_BUDGET_MS = 1000
SLOW_LINK = {"offline": False, "latency": 300, "downloadThroughput": 1_000_000 / 8, "uploadThroughput": 1_000_000 / 8}
RUNS = 3


def _load_once(browser: Browser, coach: Coach, throttle: bool) -> dict[str, Any]:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        errors = watch_errors(page)
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        if throttle:
            cdp.send("Network.emulateNetworkConditions", SLOW_LINK)
        received: list[float] = []
        cdp.on("Network.loadingFinished", lambda e: received.append(e["encodedDataLength"]))
        page.goto(coach.url + "/#/dashboard", wait_until="commit")
        expect(page.locator("article[data-type=tank] .big").first).not_to_have_text("—")
        first_values = page.evaluate(
            "() => performance.getEntriesByName('coachiq:first-values')[0]?.startTime ?? null")
        page.wait_for_load_state("load")
        return {"bytes": sum(received), "first_values_ms": first_values, "errors": errors}
    finally:
        context.close()


def test_first_load_is_small_and_first_values_show_within_a_second_on_a_slow_link(browser: Browser,
                                                                                   coach: Coach) -> None:
    fast = _load_once(browser, coach, throttle=False)
    assert fast["errors"] == []
    assert 0 < fast["bytes"] < FIRST_LOAD_BUDGET, f"first load transferred {fast['bytes']} bytes"
    slow = [_load_once(browser, coach, throttle=True) for _ in range(RUNS)]
    times = [run["first_values_ms"] for run in slow]
    assert all(isinstance(t, (int, float)) for t in times), times
    median = statistics.median(times)
    print(f"first load {fast['bytes']} bytes; first values on 300 ms / 1 Mbit/s: median {median:.0f} ms "
          f"(min {min(times):.0f}, max {max(times):.0f}, {RUNS} runs)")
    assert all(run["errors"] == [] for run in slow)
    assert median < FIRST_VALUES_BUDGET_MS, f"first values after {median:.0f} ms on the slow link"
