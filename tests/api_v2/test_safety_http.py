"""/api/v2/safety over real HTTP: the safety view and emergency stop."""

from __future__ import annotations

from tests.api_v2.conftest import Coach


async def test_safety_view(coach: Coach) -> None:
    view = (await coach.http.get("/api/v2/safety")).json()
    assert view["vehicle_state"] == "parked"
    assert view["safe_state"] is False and view["reasons"] == [] and view["emergency_stop"] is False
    assert isinstance(view["interlocks"], dict)


async def test_emergency_stop_holds_until_cleared(coach: Coach) -> None:
    stopped = await coach.http.post("/api/v2/safety/emergency-stop")
    assert stopped.status_code == 200
    assert stopped.json()["emergency_stop"] is True and stopped.json()["safe_state"] is True
    refused = await coach.http.post("/api/v2/entities/awning.patio/commands",
                                    json={"command": "extend", "duration_s": 3})
    assert refused.status_code == 409 and "emergency" in refused.json()["reason"]
    # Lights are not position-critical: they still work.
    light = await coach.http.post("/api/v2/entities/light.porch/commands", json={"command": "turn_on"})
    assert light.status_code == 200
    cleared = await coach.http.post("/api/v2/safety/emergency-stop/clear")
    assert cleared.json()["emergency_stop"] is False and cleared.json()["safe_state"] is False
