"""Serving the web page: routes, cache headers, compression, and nothing shadowed."""

from __future__ import annotations

import gzip
import json
import re

import httpx
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from coachiq.web import WEB_DIR, mount_web

FIRST_LOAD_BUDGET = 300 * 1024


def _app() -> FastAPI:
    app = FastAPI()
    mount_web(app)
    return app


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://coach")


async def test_index_is_served_at_the_root_with_revalidation_and_a_content_security_policy() -> None:
    async with _client(_app()) as client:
        response = await client.get("/")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["cache-control"] == "no-cache"
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"
        again = await client.get("/", headers={"If-None-Match": response.headers["etag"]})
        assert again.status_code == 304
        assert again.content == b""


async def test_scripts_are_javascript_and_compressed_when_the_browser_accepts_it() -> None:
    async with _client(_app()) as client:
        plain = await client.get("/app.js", headers={"Accept-Encoding": "identity"})
        assert plain.headers["content-type"].startswith("text/javascript")
        assert "content-encoding" not in plain.headers
        packed = await client.get("/app.js", headers={"Accept-Encoding": "gzip"})
        assert packed.headers["content-encoding"] == "gzip"
        assert packed.content == plain.content  # the client decodes it
        assert (await client.get("/no-such-file.js")).status_code == 404


async def test_every_file_the_page_references_is_served_and_the_first_load_is_small() -> None:
    async with _client(_app()) as client:
        index = (await client.get("/")).text
        wanted = set(re.findall(r'(?:src|href)="([^"#:]+)"', index))
        for module in WEB_DIR.glob("*.js"):
            wanted.update(re.findall(r'from "\./([^"]+)"', module.read_text()))
        assert {"app.js", "styles.css"} <= wanted
        total = len(gzip.compress(index.encode()))
        for name in sorted(wanted):
            response = await client.get("/" + name.lstrip("./"))
            assert response.status_code == 200, name
            total += len(gzip.compress(response.content))
        assert total < FIRST_LOAD_BUDGET


async def test_routes_added_after_the_page_are_not_shadowed_and_the_page_is_not_in_the_api_schema() -> None:
    app = _app()
    router = APIRouter()

    @router.get("/api/v2/late")
    async def late() -> dict[str, bool]:
        return {"ok": True}

    app.include_router(router)
    async with _client(app) as client:
        assert (await client.get("/api/v2/late")).json() == {"ok": True}
        paths = (await client.get("/openapi.json")).json()["paths"]
        assert "/" not in paths
        assert "/app.js" not in paths


def _app_with_entities(status: int) -> FastAPI:
    app = FastAPI()
    router = APIRouter()

    @router.get("/api/v2/entities")
    async def entities(request: Request) -> Response:
        if status != 200 or request.headers.get("authorization") != "Bearer good":
            return JSONResponse({"detail": "sign in first"}, status_code=401)
        return JSONResponse({"entities": [{"id": "light.a", "name": "</script><b>x</b>", "state": {"on": True}}]})

    app.include_router(router)
    mount_web(app)
    return app


async def test_the_page_carries_the_entity_list_only_for_a_caller_who_may_read_it() -> None:
    async with _client(_app_with_entities(200)) as client:
        page = await client.get("/", headers={"Authorization": "Bearer good", "Accept-Encoding": "gzip"})
        assert page.status_code == 200
        assert "etag" not in page.headers  # new values every time
        match = re.search(r'<script type="application/json" id="entity-snapshot">(.*?)</script>', page.text, re.S)
        assert match is not None
        assert json.loads(match.group(1))["entities"][0]["name"] == "</script><b>x</b>"
        refused = await client.get("/", headers={"Authorization": "Bearer bad"})
        assert "entity-snapshot" not in refused.text
        assert "etag" in refused.headers
    async with _client(_app_with_entities(401)) as client:
        assert "entity-snapshot" not in (await client.get("/")).text
