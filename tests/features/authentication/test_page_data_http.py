"""The page at `/` carries the entity list and who is asking (coachiq/web): with authentication on, the list
only for a caller who could read it anyway, and never before sign-in. Scenes: reading them needs a
signed-in user, saving, running and deleting them the operator role."""

from __future__ import annotations

import json
import re

import httpx

from tests.features.authentication.conftest import AuthServer

BLOCK = re.compile(r'<script type="application/json" id="([a-z-]+)">(.*?)</script>', re.S)


def _blocks(page: httpx.Response) -> dict[str, object]:
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    return {name: json.loads(body) for name, body in BLOCK.findall(page.text)}


def test_page_carries_no_entities_before_sign_in(auth_server: AuthServer) -> None:
    with httpx.Client(base_url=auth_server.url, timeout=10) as anonymous:
        blocks = _blocks(anonymous.get("/"))
        # A forged session cookie and a wrong token are no better than nothing.
        forged = _blocks(anonymous.get("/", headers={"Cookie": "coachiq_session=" + "A" * 43}))
        wrong = _blocks(anonymous.get("/", headers={"Authorization": "Bearer not-a-token"}))
        assert anonymous.get("/api/v2/entities").status_code == 401
    for carried in (blocks, forged, wrong):
        assert "entity-snapshot" not in carried
        assert carried["access-snapshot"] == {"authentication": True, "user": None}
    with auth_server.client() as page_client:
        assert "light." not in page_client.get("/").text


def test_page_carries_entities_for_a_signed_in_user_or_a_token(auth_server: AuthServer) -> None:
    with auth_server.signed_in("vic") as viewer:
        blocks = _blocks(viewer.get("/"))
    assert blocks["access-snapshot"] == {"authentication": True,
                                         "user": {"name": "vic", "role": "viewer", "kind": "session"}}
    entities = blocks["entity-snapshot"]
    assert isinstance(entities, dict) and entities["entities"], "the list a viewer may read"
    with httpx.Client(base_url=auth_server.url, headers=auth_server.bearer("read"), timeout=10) as program:
        assert "entity-snapshot" in _blocks(program.get("/"))
    # The page with the caller's data is never a shared, revalidated copy.
    with auth_server.signed_in("vic") as viewer:
        page = viewer.get("/")
    assert "etag" not in page.headers and page.headers["cache-control"] == "no-cache"


def test_scenes_need_the_operator_role_to_change_or_run(auth_server: AuthServer) -> None:
    with httpx.Client(base_url=auth_server.url, timeout=10) as anonymous:
        assert anonymous.get("/api/v2/scenes").status_code == 401
    with auth_server.signed_in("otto") as operator:
        lights = [e["id"] for e in operator.get("/api/v2/entities", params={"type": "light"}).json()["entities"]]
        saved = operator.post("/api/v2/scenes", json={"name": "Reading", "lights": {lights[0]: {"on": True}}})
        assert saved.status_code == 200, saved.text
        scene = saved.json()["id"]
    with auth_server.signed_in("vic") as viewer:
        assert viewer.get("/api/v2/scenes").status_code == 200
        assert viewer.post(f"/api/v2/scenes/{scene}/run").status_code == 403
        mine = {"name": "Mine", "lights": {lights[0]: {"on": True}}}
        assert viewer.post("/api/v2/scenes", json=mine).status_code == 403
        assert viewer.delete(f"/api/v2/scenes/{scene}").status_code == 403
    with auth_server.signed_in("otto") as operator:
        assert operator.post(f"/api/v2/scenes/{scene}/run").status_code == 200
        assert operator.delete(f"/api/v2/scenes/{scene}").status_code == 204
    refused = [row for row in auth_server.audit() if row[1] == "access.refused" and "/api/v2/scenes" in row[2]]
    assert len(refused) == 3 and all(row[0].startswith("user:vic") for row in refused)
