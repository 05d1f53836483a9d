"""Lighting scenes: the /api/v2/scenes API on a real server, and saving and running one from the page."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import httpx

from tests.web.page.browser import Coach, Tab, show

with contextlib.suppress(ImportError):  # the browser fixture reports a missing playwright
    from playwright.sync_api import expect


def _on(coach: Coach, entity_id: str) -> Any:
    return coach.get(f"/api/v2/entities/{entity_id}")["state"]["on"]


def test_scenes_api_validates_bounds_and_runs(coach: Coach) -> None:
    assert coach.post("/api/v2/scenes", {"name": "", "lights": {"light.porch": {"on": True}}}).status_code == 422
    assert coach.post("/api/v2/scenes", {"name": "X", "lights": {}}).status_code == 422
    not_a_light = {"name": "X", "lights": {"switch.tank_heaters": {"on": True}}}
    assert coach.post("/api/v2/scenes", not_a_light).status_code == 422
    assert coach.post("/api/v2/scenes", {"name": "X", "lights": {"light.porch": {"on": True, "brightness": 50}}}
                      ).status_code == 422  # the porch light is not a dimmer
    assert coach.post("/api/v2/scenes", {"name": "X", "lights": {"light.porch": {"on": True}}, "extra": 1}
                      ).status_code == 422
    saved = coach.post("/api/v2/scenes", {"name": "Porch test", "lights": {"light.porch": {"on": True},
                                                                            "light.galley_ceiling": {"on": False}}})
    assert saved.status_code == 200, saved.text
    scene_id = saved.json()["id"]
    assert scene_id == "porch-test"
    assert any(s["id"] == scene_id for s in coach.get("/api/v2/scenes")["scenes"])
    ran = coach.post(f"/api/v2/scenes/{scene_id}/run")
    assert ran.status_code == 200
    assert ran.json()["results"] == {"light.porch": "confirmed", "light.galley_ceiling": "confirmed"}
    assert _on(coach, "light.porch") is True
    assert httpx.delete(f"{coach.url}/api/v2/scenes/{scene_id}", timeout=10).status_code == 204
    assert httpx.delete(f"{coach.url}/api/v2/scenes/{scene_id}", timeout=10).status_code == 404
    assert coach.post(f"/api/v2/scenes/{scene_id}/run").status_code == 404
    porch_off = {"light.porch": {"on": False}}
    for n in range(24):
        assert coach.post("/api/v2/scenes", {"name": f"s{n}", "lights": porch_off}).status_code == 200
    assert coach.post("/api/v2/scenes", {"name": "one too many", "lights": porch_off}).status_code == 422
    for n in range(24):
        assert httpx.delete(f"{coach.url}/api/v2/scenes/s{n}", timeout=10).status_code == 204


def test_all_lights_off_and_a_scene_saved_and_run_from_the_page(tab: Tab, coach: Coach) -> None:
    page = tab.page
    for entity_id in ("light.porch", "light.cab_dome"):
        assert coach.post(f"/api/v2/entities/{entity_id}/commands", {"command": "turn_on"}).status_code == 200
    show(page, "lights")
    page.locator("#all-lights-off").click()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and (_on(coach, "light.porch") or _on(coach, "light.cab_dome")):
        time.sleep(0.1)
    assert not _on(coach, "light.porch") and not _on(coach, "light.cab_dome")
    expect(page.locator("#all-lights-off")).to_be_disabled()
    # Save "Arrive" with the porch light on, turn it off, and run the scene with one tap.
    porch = page.locator("article[data-entity='light.porch'] button[role=switch]")
    porch.click()
    expect(porch).to_have_attribute("aria-checked", "true")
    page.locator("#scene-name").fill("Arrive")
    page.get_by_role("button", name="Save current lights").click()
    scene = page.locator("button[data-scene=arrive]")
    expect(scene).to_be_visible()
    page.locator("#all-lights-off").click()
    expect(porch).to_have_attribute("aria-checked", "false")
    scene.click()
    expect(porch).to_have_attribute("aria-checked", "true")
    assert _on(coach, "light.porch") is True
    assert tab.errors == []
