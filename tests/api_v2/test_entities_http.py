"""/api/v2/entities over real HTTP against the simulated coach."""

from __future__ import annotations

import asyncio
import json

import can

from coachiq.can.interface import SIMULATED_CHANNEL
from tests.api_v2.conftest import Coach, wait_until

PROBLEM = "application/problem+json"


async def test_list_and_filter(coach: Coach) -> None:
    everything = (await coach.http.get("/api/v2/entities")).json()["entities"]
    assert len(everything) == len(coach.runtime.core.entities.entities)
    first = everything[0]
    assert set(first) >= {"id", "name", "type", "area", "capabilities", "state", "available", "updated_at"}
    lights = (await coach.http.get("/api/v2/entities", params={"type": "light"})).json()["entities"]
    assert lights and all(e["type"] == "light" for e in lights)
    galley = (await coach.http.get("/api/v2/entities", params={"type": "light", "area": "galley"})).json()
    assert {e["id"] for e in galley["entities"]} == {"light.galley_ceiling", "light.galley_under_cabinet"}
    dimmable = (await coach.http.get("/api/v2/entities", params={"capability": "set_brightness"})).json()
    assert "light.galley_under_cabinet" not in {e["id"] for e in dimmable["entities"]}
    assert (await coach.http.get("/api/v2/entities", params={"type": "spaceship"})).json() == {"entities": []}


async def test_the_list_is_the_documented_route_and_follows_changes(coach: Coach) -> None:
    from starlette.routing import Match, Route

    scope = {"type": "http", "method": "GET", "path": "/api/v2/entities", "query_string": b"", "root_path": "",
             "headers": []}
    app = coach.runtime._app  # type: ignore[union-attr]
    # No plain route in front of the API's routers: the first full match is the v2 router.
    matching = [r for r in app.routes if r.matches(scope)[0] is Match.FULL]
    assert matching and not isinstance(matching[0], Route)
    too_long = await coach.http.get("/api/v2/entities", params={"type": "x" * 33})
    assert too_long.status_code == 422 and too_long.headers["content-type"] == PROBLEM
    for method in ("HEAD", "POST", "DELETE"):
        assert (await coach.http.request(method, "/api/v2/entities")).status_code == 405, method
    # The body kept between requests is rebuilt after a change: a command's confirmed state shows at once.
    for level in (30, 70):
        answer = await coach.http.post("/api/v2/entities/light.galley_ceiling/commands",
                                       json={"command": "set_brightness", "brightness": level})
        assert answer.status_code == 200, answer.text
        listed = {e["id"]: e for e in (await coach.http.get("/api/v2/entities")).json()["entities"]}
        assert listed["light.galley_ceiling"]["state"]["brightness"] == level
        lights = (await coach.http.get("/api/v2/entities", params={"type": "light"})).json()["entities"]
        assert next(e for e in lights if e["id"] == "light.galley_ceiling")["state"]["brightness"] == level


async def test_the_list_is_gzipped_for_clients_that_take_it(coach: Coach) -> None:
    plain = await coach.http.get("/api/v2/entities", headers={"Accept-Encoding": "identity"})
    packed = await coach.http.get("/api/v2/entities", headers={"Accept-Encoding": "gzip, deflate"})
    assert "content-encoding" not in plain.headers and plain.headers["vary"] == "Accept-Encoding"
    assert packed.headers["content-encoding"] == "gzip" and packed.headers["vary"] == "Accept-Encoding"
    assert int(packed.headers["content-length"]) < len(plain.content)
    # httpx has decompressed it: the same entities in the same order.
    assert [e["id"] for e in packed.json()["entities"]] == [e["id"] for e in plain.json()["entities"]]


async def test_one_entity_and_unknown_one(coach: Coach) -> None:
    response = await coach.http.get("/api/v2/entities/tank.fresh")
    assert response.status_code == 200 and response.json()["type"] == "tank"
    missing = await coach.http.get("/api/v2/entities/tank.nowhere")
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    assert "tank.nowhere" in missing.json()["detail"]


async def test_command_is_confirmed_with_state_and_kept_in_history(coach: Coach) -> None:
    response = await coach.http.post("/api/v2/entities/light.galley_ceiling/commands",
                                     json={"command": "set_brightness", "brightness": 60})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "confirmed" and body["command_id"]
    assert body["state"]["brightness"] == 60
    entity = (await coach.http.get("/api/v2/entities/light.galley_ceiling")).json()
    assert entity["available"] and entity["state"]["brightness"] == 60
    # params may also be given under "params"
    off = await coach.http.post("/api/v2/entities/light.galley_ceiling/commands",
                                json={"command": "turn_off", "params": {}})
    assert off.status_code == 200 and off.json()["state"]["on"] is False
    history = (await coach.http.get("/api/v2/entities/light.galley_ceiling/history")).json()
    assert history["entity_id"] == "light.galley_ceiling"
    assert any(s["values"].get("brightness") == 60 for s in history["samples"])
    assert (await coach.http.get("/api/v2/entities/light.nowhere/history")).status_code == 404


async def test_invalid_commands_are_422_problems(coach: Coach) -> None:
    url = "/api/v2/entities/light.galley_ceiling/commands"
    for body, words in (({"command": "extend", "duration_s": 5}, "extend"),
                        ({"command": "fly"}, "fly"),
                        ({"command": "set_brightness", "brightness": 250}, "brightness")):
        response = await coach.http.post(url, json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == PROBLEM
        assert words in response.json()["detail"]
    missing_field = await coach.http.post(url, json={"brightness": 5})
    assert missing_field.status_code == 422 and "command" in missing_field.json()["detail"]
    unknown = await coach.http.post("/api/v2/entities/light.nowhere/commands", json={"command": "turn_on"})
    assert unknown.status_code == 404


async def test_slide_refused_while_moving_is_409_with_reason(coach: Coach) -> None:
    coach.sim.set_chassis(moving=True, park_brake=False)
    await wait_until(lambda: coach.runtime.core.state.vehicle_state() == "moving")
    response = await coach.http.post("/api/v2/entities/slide.living_room/commands",
                                     json={"command": "extend", "duration_s": 5})
    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert "moving" in problem["reason"] and problem["command_id"]
    # The audit line is written in the background: wait for it.
    for _ in range(100):
        audit = await coach.runtime.core.persistence.audit_entries(target="slide.living_room")
        if any(entry.result == "refused" and "moving" in entry.reason for entry in audit):
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError(f"no refusal in the audit log: {audit}")


async def test_batch_commands(coach: Coach) -> None:
    response = await coach.http.post("/api/v2/entities/commands", json={"commands": [
        {"entity_id": "light.porch", "command": "turn_on"},
        {"entity_id": "light.galley_ceiling", "command": "set_brightness", "brightness": 5},
    ]})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["confirmed", "confirmed"]
    assert results[0]["state"]["on"] is True
    empty = await coach.http.post("/api/v2/entities/commands", json={"commands": []})
    assert empty.status_code == 422


async def test_unmapped_traffic_is_listed(coach: Coach) -> None:
    # A node the mapping does not know: a dimmer output 0x77 at source address 0x9A.
    with can.Bus(interface="virtual", channel=SIMULATED_CHANNEL) as node:
        node.send(can.Message(arbitration_id=(6 << 26) | (0x1FEDA << 8) | 0x9A,
                              data=bytes.fromhex("7701C8FCFF0500FF")))
    await wait_until(lambda: coach.runtime.core.entities.unmapped())
    unmapped = (await coach.http.get("/api/v2/entities/unmapped")).json()["unmapped"]
    found = [u for u in unmapped if u["instance"] == 0x77]
    assert found and found[0]["source_address"] == 0x9A and found[0]["name"] == "DC_DIMMER_STATUS_3"


async def test_huge_numbers_are_422_naming_the_field(coach: Coach) -> None:
    huge = int("9" * 400)
    for entity_id, body, field in (
            ("light.galley_ceiling", {"command": "set_brightness", "brightness": huge}, "brightness"),
            ("thermostat.front", {"command": "set_setpoint", "heat": -huge}, "heat"),
            ("slide.living_room", {"command": "extend", "duration_s": huge}, "duration_s"),
            ("light.galley_ceiling", {"command": "set_brightness", "brightness": 1e308 * 10}, "brightness")):
        response = await coach.http.post(f"/api/v2/entities/{entity_id}/commands",
                                         content=json.dumps(body).replace("Infinity", "1e999"),
                                         headers={"content-type": "application/json"})
        assert response.status_code == 422, (body, response.text)
        problem = response.json()
        assert problem["field"] == field and len(problem["detail"]) < 300


async def test_a_batch_with_one_bad_command_runs_none_of_it(coach: Coach) -> None:
    before = coach.runtime.core.entities.get("light.porch")
    assert before is not None
    was_on = before.state.values.get("on")
    frames_sent = coach.runtime.core.can.link("house").stats.tx_frames
    response = await coach.http.post("/api/v2/entities/commands", json={"commands": [
        {"entity_id": "light.porch", "command": "toggle"},
        {"entity_id": "light.galley_ceiling", "command": "set_brightness", "brightness": int("9" * 400)},
    ]})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "commands[1].brightness"
    unknown = await coach.http.post("/api/v2/entities/commands", json={"commands": [
        {"entity_id": "light.porch", "command": "toggle"}, {"entity_id": "light.nowhere", "command": "turn_on"}]})
    assert unknown.status_code == 422 and unknown.json()["field"] == "commands[1]"
    # A batch that ran would have sent its toggle before answering (commands wait for their echo).
    assert coach.runtime.core.can.link("house").stats.tx_frames == frames_sent
    assert before.state.values.get("on") == was_on


async def test_the_windshield_shade_is_refused_while_the_coach_may_move(coach: Coach) -> None:
    coach.sim.set_chassis(moving=True, park_brake=False)
    await wait_until(lambda: coach.runtime.core.state.vehicle_state() == "moving")
    response = await coach.http.post("/api/v2/entities/shade.windshield/commands",
                                     json={"command": "extend", "duration_s": 2})
    assert response.status_code == 409, response.text
    assert "moving" in response.json()["reason"]
    # A shade the mapping does not mark position-critical still works.
    living = await coach.http.post("/api/v2/entities/shade.living_room/commands",
                                   json={"command": "extend", "duration_s": 1})
    assert living.status_code == 200, living.text


async def test_many_unknown_parameters_make_a_short_answer_and_audit_line(coach: Coach) -> None:
    # 2000 names, still under the 64 KB body limit
    body = {"command": "turn_on", **{f"p{n:05d}" + "x" * 15: n for n in range(2000)}}
    response = await coach.http.post("/api/v2/entities/light.porch/commands", json=body)
    assert response.status_code == 422
    assert len(response.json()["detail"]) < 500 and "1997 more" in response.json()["detail"]
    await coach.runtime.core.entities.settle()
    audit = await coach.runtime.core.persistence.audit_entries(target="light.porch")
    assert audit and audit[0].result == "invalid" and len(audit[0].reason) < 500
