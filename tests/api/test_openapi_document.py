"""install_openapi: a route documented with a model only the document carries reads, in the OpenAPI
document, exactly as the same route declared with that response model."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import httpx
from fastapi import APIRouter, FastAPI, Query, Response
from pydantic import BaseModel, Discriminator, Field, Tag

from coachiq.api.openapi import install_openapi


class Lamp(BaseModel):
    """A lamp."""

    kind: Literal["lamp"]
    on: bool | None = Field(description="Null until heard.")


class Tank(BaseModel):
    """A tank."""

    kind: Literal["tank"]
    level: float | None


Thing = Annotated[Annotated[Lamp, Tag("lamp")] | Annotated[Tank, Tag("tank")], Discriminator("kind")]


class ThingList(BaseModel):
    """Things."""

    things: list[Thing]


def _app(documented_only: bool) -> FastAPI:
    """An app with two routes answering pre-serialised JSON, under an included router as in the server."""
    app = FastAPI(title="t", version="1")
    router = APIRouter(prefix="/things", tags=["things"])

    @router.get("", response_model=None if documented_only else ThingList, responses={404: {"description": "x"}})
    async def list_things(kind: str | None = Query(default=None, max_length=8)) -> Response:
        """Every thing."""
        return Response(b'{"things": []}', media_type="application/json")

    @router.get("/{thing_id}", response_model=None if documented_only else Thing)
    async def get_thing(thing_id: str) -> Response:
        """One thing."""
        return Response(b'{"kind": "tank", "level": null}', media_type="application/json")

    outer = APIRouter(prefix="/api")
    outer.include_router(router)
    app.include_router(outer)
    documented: dict[Any, Any] = {list_things: lambda: ThingList, get_thing: lambda: Thing}
    install_openapi(app, documented if documented_only else {})
    return app


def test_the_document_is_the_same_as_with_the_response_models_on_the_routes() -> None:
    declared, documented = _app(documented_only=False), _app(documented_only=True)
    assert documented.openapi() == declared.openapi()
    one = documented.openapi()["paths"]["/api/things/{thing_id}"]["get"]["responses"]["200"]
    assert len(one["content"]["application/json"]["schema"]["oneOf"]) == 2
    assert "ThingList" in documented.openapi()["components"]["schemas"]


async def test_the_document_is_built_at_its_first_request_and_again_after_the_routes_change() -> None:
    app = _app(documented_only=True)
    assert app.openapi_schema is None
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        first = (await client.get("/openapi.json")).json()
        assert "/api/things" in first["paths"] and "/extra" not in first["paths"]
        answer = await client.get("/api/things/x")
        assert answer.json() == {"kind": "tank", "level": None}  # sent as the route made it

        extra = APIRouter()

        @extra.get("/extra")
        async def more() -> dict[str, int]:
            """More."""
            return {"n": 1}

        app.include_router(extra)
        app.openapi_schema = None  # as the runtime does when a feature adds or removes routes
        again = (await client.get("/openapi.json")).json()
    assert "/extra" in again["paths"]
    assert again["paths"]["/api/things"] == first["paths"]["/api/things"]
