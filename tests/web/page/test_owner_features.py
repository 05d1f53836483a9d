"""What an owner expects beyond the cards: settings applied everywhere, alerts as a bell with a list, history."""

from __future__ import annotations

import contextlib
import re
import time

from tests.web.page.browser import Tab, axe_violations, screenshot, show

with contextlib.suppress(ImportError):  # the browser fixture reports a missing playwright
    from playwright.sync_api import expect


def test_units_chosen_in_settings_apply_everywhere(tab: Tab) -> None:
    page = tab.page
    show(page, "settings")
    page.get_by_label("Temperatures in").select_option("F")
    page.get_by_label("Tank volumes in").select_option("gal")
    show(page, "dashboard")
    fresh = page.locator("article[data-entity='tank.fresh']")
    expect(fresh).to_contain_text(re.compile(r"75\s?gal of 100\s?gal"))  # 285 L of 380 L
    expect(page.locator("a.tile", has_text="Front zone")).to_contain_text("°F")
    show(page, "climate")
    expect(page.locator("article[data-type=thermostat] .stepper .value").first).to_contain_text("°F")
    show(page, "settings")
    page.get_by_label("Temperatures in").select_option("C")
    page.get_by_label("Tank volumes in").select_option("L")
    show(page, "dashboard")
    expect(fresh).to_contain_text(re.compile(r"285\s?L of 380\s?L"))
    assert tab.errors == []


def test_alerts_follow_the_thresholds_in_settings_and_show_as_a_bell(tab: Tab) -> None:
    page = tab.page
    bell = page.locator("#alerts-bell")
    expect(bell).to_have_attribute("aria-label", "Alerts: none")
    show(page, "settings")
    empty_at = page.get_by_label("Fresh water or LPG nearly empty at (%)")
    empty_at.fill("78")
    empty_at.press("Enter")
    expect(bell).to_have_attribute("aria-label", "Alerts: 1")  # fresh water at 75 %; LPG at 80 % is above
    bell.click()
    dialog = page.locator("#alerts-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Fresh water: nearly empty")
    screenshot(page, "phone-light-alerts")
    assert axe_violations(page) == []
    dialog.get_by_role("button", name="Close").click()
    empty_at.fill("15")
    empty_at.press("Enter")
    expect(bell).to_have_attribute("aria-label", "Alerts: none")
    assert tab.errors == []


def test_history_sparklines_come_from_the_server_and_expand_to_a_chart(tab: Tab) -> None:
    page = tab.page
    show(page, "power")
    card = page.locator("article[data-entity='battery.house']")
    toggle = card.get_by_role("button", name="Voltage history")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    # The simulated battery has been reporting since the server started: the line has points.
    expect(card.locator(".history").first).not_to_have_class(re.compile("no-data"))
    assert card.locator(".spark .spark-line").first.get_attribute("d").count("L") >= 1
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    chart = card.locator(".chart-box").first
    expect(chart).to_be_visible()
    expect(chart).to_contain_text(re.compile(r"\d+\.\d\d\s?V high"))
    expect(chart).to_contain_text("now")
    screenshot(page, "phone-light-power-history")
    assert axe_violations(page) == []
    assert tab.errors == []


def _state(tab: Tab, entity_id: str) -> dict[str, object]:
    state: dict[str, object] = tab.page.evaluate(
        "id => fetch('/api/v2/entities/' + id).then((r) => r.json()).then((e) => e.state)", entity_id)
    return state


def _wait_state(tab: Tab, entity_id: str, key: str, value: object, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _state(tab, entity_id).get(key) == value:
            return
        time.sleep(0.1)
    raise AssertionError(f"{entity_id} {key} never became {value!r}")


def test_water_heater_roof_fan_furnace_and_ac_fan_have_their_controls(tab: Tab) -> None:
    page = tab.page
    show(page, "climate")
    heater = page.locator("article[data-entity='water_heater.main']")
    heater.get_by_label("Heat with").select_option("electric")
    expect(heater.locator(".cmd")).to_contain_text("confirmed")
    assert _state(tab, "water_heater.main")["mode"] == "electric"
    before = _state(tab, "water_heater.main")["setpoint"]
    heater.get_by_role("button", name="Raise water temperature").click()
    expect(heater.locator(".cmd")).to_contain_text("Set point: confirmed")
    assert _state(tab, "water_heater.main")["setpoint"] == before + 1  # type: ignore[operator]
    fan = page.locator("article[data-entity='fan.galley']")
    fan.get_by_label("Fan speed").fill("60")
    expect(fan.locator(".cmd")).to_contain_text("confirmed")
    assert _state(tab, "fan.galley")["fan_speed"] == 60.0
    expect(fan.locator(".value-inline")).to_have_text(re.compile(r"60\s?%"))
    fan.get_by_label("Direction").select_option("air_in")
    _wait_state(tab, "fan.galley", "air_direction", "air_in")
    fan.get_by_label("Lid").select_option("half_open")
    _wait_state(tab, "fan.galley", "dome", "half_open")
    expect(fan.locator(".cmd")).to_contain_text("Fan: confirmed")
    furnace = page.locator("article[data-entity='furnace.main']")
    expect(furnace.get_by_label("Circulation fan")).to_be_visible()
    furnace.get_by_label("Mode").select_option("manual")
    expect(furnace.locator(".cmd")).to_contain_text("Mode: confirmed")
    assert _state(tab, "furnace.main")["mode"] == "manual"
    furnace.get_by_label("Mode").select_option("automatic")
    expect(furnace.locator(".cmd")).to_contain_text("Mode: confirmed")
    zone = page.locator("article[data-entity='thermostat.front']")
    zone.get_by_label("Fan speed").fill("50")
    expect(zone.locator(".cmd")).to_contain_text("confirmed")
    assert _state(tab, "thermostat.front")["fan_speed"] == 50.0
    screenshot(page, "phone-light-climate-controls")
    assert axe_violations(page) == []
    assert tab.errors == []
