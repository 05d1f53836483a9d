"""With authentication off (the default) nothing asks for credentials, and the page is told so."""

from __future__ import annotations

from tests.api_v2.conftest import Coach


async def test_access_reports_authentication_off_and_control_is_open(coach: Coach) -> None:
    assert (await coach.http.get("/api/v2/access")).json() == {"authentication": False, "user": None}
    assert (await coach.http.get("/api/v2/auth/session")).status_code == 404  # the feature is not running
    cleared = await coach.http.post("/api/v2/safety/emergency-stop/clear")
    assert cleared.status_code == 200
