"""/api/v2/can and /api/v2/system over real HTTP."""

from __future__ import annotations

from tests.api_v2.conftest import Coach, wait_until


async def test_interfaces_statistics_and_system(coach: Coach) -> None:
    interfaces = (await coach.http.get("/api/v2/can/interfaces")).json()["interfaces"]
    assert [i["name"] for i in interfaces] == ["house"] and interfaces[0]["state"] == "up"
    stats = (await coach.http.get("/api/v2/can/statistics")).json()
    assert stats["interfaces"]["house"]["rx_frames"] > 0 and stats["decoded_frames"] > 0
    system = (await coach.http.get("/api/v2/system")).json()
    assert system["coach"] == "class_a_diesel" and system["simulated"] is True and system["uptime_s"] >= 0


async def test_recent_frames_filtered_by_dgn(coach: Coach) -> None:
    await wait_until(lambda: any(f.decoded.name == "TANK_STATUS" for f in coach.runtime.core.api_v2.recent))
    frames = (await coach.http.get("/api/v2/can/frames", params={"dgn": "TANK_STATUS", "limit": 5})).json()
    assert 0 < len(frames["frames"]) <= 5
    assert all(f["name"] == "TANK_STATUS" and f["values"] for f in frames["frames"])
    by_number = (await coach.http.get("/api/v2/can/frames", params={"dgn": str(frames["frames"][0]["dgn"])}))
    assert by_number.status_code == 200 and by_number.json()["frames"]
    bad = await coach.http.get("/api/v2/can/frames", params={"dgn": "NO_SUCH_DGN"})
    assert bad.status_code == 422 and "NO_SUCH_DGN" in bad.json()["detail"]


async def test_send_raw_frame(coach: Coach) -> None:
    sent = await coach.http.post("/api/v2/can/send", json={"dgn": "DC_DIMMER_STATUS_3",
                                                          "data": "77 FF C8 FC FF 05 00 FF"})
    assert sent.status_code == 200, sent.text
    assert sent.json()["dgn"] == 0x1FEDA and sent.json()["can_id"] & 0xFF == 0x8C
    audit = await coach.runtime.core.persistence.audit_entries(target="can:house:0x1FEDA")
    assert audit and audit[0].result == "sent"


async def test_raw_motion_commands_are_refused(coach: Coach) -> None:
    for dgn, data in (("SLIDE_COMMAND", "01 FF FF FF FF FF FF FF"),
                      ("AWNING_COMMAND", "01 FF FF FF FF FF FF FF"),
                      ("DC_DIMMER_COMMAND_2", "28 FF C8 01 05 00 FF FF")):  # instance 40 drives a slide
        response = await coach.http.post("/api/v2/can/send", json={"dgn": dgn, "data": data})
        assert response.status_code == 409, (dgn, response.text)
        assert "safety" in response.json()["reason"]
    # The same DGN to a light's output is allowed.
    light = await coach.http.post("/api/v2/can/send", json={"dgn": "DC_DIMMER_COMMAND_2",
                                                           "data": "0C FF C8 01 05 00 FF FF"})
    assert light.status_code == 200, light.text


async def test_bad_raw_frames_are_422(coach: Coach) -> None:
    for body in ({"dgn": "DC_DIMMER_STATUS_3", "data": "zz"},
                 {"dgn": "NOPE", "data": "00"},
                 {"dgn": 0x1FEDA, "data": "00 11 22 33 44 55 66 77 88"},
                 {"dgn": "0x1FEDA", "data": "00", "interface": "chassis"},
                 {"dgn": 0x1FEDA, "data": "00", "priority": 9}):
        response = await coach.http.post("/api/v2/can/send", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
