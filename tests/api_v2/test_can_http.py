"""/api/v2/can and /api/v2/system over real HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.api_v2.conftest import Coach, serve_coach, wait_until


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


async def test_raw_send_is_refused_by_default_and_audited(coach: Coach) -> None:
    sent = await coach.http.post("/api/v2/can/send", json={"dgn": "DC_DIMMER_STATUS_3",
                                                          "data": "77 FF C8 FC FF 05 00 FF"})
    assert sent.status_code == 403, sent.text
    assert "can_tools" in sent.json()["reason"]
    audit = await coach.runtime.core.persistence.audit_entries(target="can:house:DC_DIMMER_STATUS_3")
    assert audit and audit[0].result == "refused"


@pytest.fixture
async def tools(tmp_path: Path) -> AsyncIterator[Coach]:
    """The coach with the can_tools feature on."""
    async with serve_coach(tmp_path / "data", features=["can_tools"]) as running:
        yield running


async def test_with_can_tools_a_status_frame_goes_out_at_its_documented_priority(tools: Coach) -> None:
    sent = await tools.http.post("/api/v2/can/send", json={"dgn": "DC_DIMMER_STATUS_3", "priority": 0,
                                                           "data": "77 FF C8 FC FF 05 00 FF"})
    assert sent.status_code == 200, sent.text
    can_id = sent.json()["can_id"]
    assert sent.json()["dgn"] == 0x1FEDA and can_id & 0xFF == 0x8C
    assert can_id >> 26 == 6  # asked for 0, clamped to the document's default priority of the DGN
    audit = await tools.runtime.core.persistence.audit_entries(target="can:house:0x1FEDA")
    assert audit and audit[0].result == "sent"
    light = await tools.http.post("/api/v2/can/send", json={"dgn": "DC_DIMMER_COMMAND_2",
                                                           "data": "0C FF C8 00 FF 00 FF FF"})
    assert light.status_code == 200, light.text


# Each worked by hand from the RV-C document (rev 2023-11): the DGN's bits (3.2) and the bytes of
# DC_DIMMER_COMMAND_2 (6.24.6): instance, group, level, command, duration, interlock.
DANGEROUS = [
    ({"dgn": "CHASSIS_MOBILITY_COMMAND", "data": "00 00 00 00 FF FF FF FF"}, "chassis"),
    ({"dgn": "GENERAL_RESET", "data": "01 FF FF FF FF FF FF FF", "destination": 0x61}, "network management"),
    ({"dgn": "INSTANCE_ASSIGNMENT", "data": "28 29 FF FF FF FF FF FF", "destination": 0x61},
     "network management"),
    ({"dgn": "0xEC00", "data": "10 09 00 02 FF DA FE 01", "destination": 0x61}, "transport"),
    ({"dgn": "0xEB00", "data": "01 02 03 04 05 06 07 08", "destination": 0x61}, "transport"),
    ({"dgn": "0xEE00", "data": "01 02 03 04 05 06 07 08"}, "network management"),
    ({"dgn": "DC_DIMMER_COMMAND_2", "data": "FF FF C8 01 05 00 FF FF"}, "group"),
    ({"dgn": "DC_DIMMER_COMMAND_2", "data": "0C 81 C8 01 05 00 FF FF"}, "group"),
    ({"dgn": "DC_DIMMER_COMMAND_2", "data": "28 FF C8 01 05 00 FF FF"}, "not a light"),  # slide motor
    ({"dgn": "DC_DIMMER_COMMAND_2", "data": "0C FF C8 21 FF 00 FF FF"}, "switches or dims"),  # lock
    ({"dgn": "DC_DIMMER_COMMAND_2", "data": "0C FF C8 01 05 01 FF FF"}, "interlock"),
    ({"dgn": 0x3FEDB, "data": "28 FF C8 01 05 00 FF FF"}, "reserved bit"),
    ({"dgn": "SLIDE_COMMAND", "data": "01 FF FF FF FF FF FF FF"}, "allow-list"),
    ({"dgn": "AWNING_COMMAND", "data": "01 FF FF FF FF FF FF FF"}, "allow-list"),
    ({"dgn": "0x1EF05", "data": "01 02 03 04 05 06 07 08"}, "low byte"),
    ({"dgn": "0x0FEDB", "data": "0C FF C8 01 05 00 FF FF"}, "not on the allow-list"),  # data page bit clear
]


async def test_with_can_tools_dangerous_frames_are_refused_and_audited(tools: Coach) -> None:
    sent_before = tools.runtime.core.can.link("house").stats.tx_frames
    for body, words in DANGEROUS:
        response = await tools.http.post("/api/v2/can/send", json=body)
        assert response.status_code == 403, (body, response.text)
        assert words in response.json()["reason"], (body, response.json())
    refused = [e for e in await tools.runtime.core.persistence.audit_entries(limit=100)
               if e.action == "can.send" and e.result == "refused"]
    assert len(refused) == len(DANGEROUS)
    assert tools.runtime.core.can.link("house").stats.tx_frames == sent_before


async def test_with_can_tools_each_sender_is_rate_limited(tools: Coach) -> None:
    answers = await asyncio.gather(*(tools.http.post("/api/v2/can/send", json={
        "dgn": "DC_DIMMER_STATUS_3", "data": f"{n:02X} FF C8 FC FF 05 00 FF"}) for n in range(1, 80)))
    codes = [a.status_code for a in answers]
    assert set(codes) <= {200, 429} and 200 in codes and 429 in codes, codes
    assert "rate limit" in next(a for a in answers if a.status_code == 429).json()["reason"]


async def test_bad_raw_frames_are_422(tools: Coach) -> None:
    for body in ({"dgn": "DC_DIMMER_STATUS_3", "data": "zz"},
                 {"dgn": "NOPE", "data": "00"},
                 {"dgn": 0x1FEDA, "data": "00 11 22 33 44 55 66 77 88"},
                 {"dgn": "0x1FEDA", "data": "00", "interface": "chassis"},
                 {"dgn": 0x1FEDA, "data": "00", "priority": 9}):
        response = await tools.http.post("/api/v2/can/send", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
