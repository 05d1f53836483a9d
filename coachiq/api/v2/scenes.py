"""/api/v2/scenes: lighting scenes the owner saves from the current lights and runs with one tap.

Scenes are kept in the persistence layer's `settings` table under one key, as a list: a coach has a
handful, so one small JSON value is enough. Saving, deleting and running a scene need the operator role
when authentication is on (reading them any signed-in user). Count, names and size are bounded. Running a scene sends
each light its command through the entity manager (validated and gated like any command) at once.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from coachiq.api.roles import CONTROL
from coachiq.api.v2.deps import actor_of, problem_response, runtime_of
from coachiq.api.v2.models import problems
from coachiq.entities.model import CommandResult

router = APIRouter(prefix="/scenes", tags=["scenes"])

SETTING_KEY = "web.scenes"
MAX_SCENES = 24
MAX_LIGHTS = 128
_ID_RE = re.compile(r"[^a-z0-9]+")


class SceneLight(BaseModel):
    """One light's part of a scene: on at a brightness (dimmers), or off."""

    model_config = ConfigDict(extra="forbid")
    on: bool
    brightness: float | None = Field(default=None, ge=1, le=100)


class SceneIn(BaseModel):
    """A scene to save: its name and the lights it sets."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=40)
    lights: dict[str, SceneLight] = Field(min_length=1, max_length=MAX_LIGHTS)


class SceneOut(SceneIn):
    """A saved scene."""

    id: str


class SceneList(BaseModel):
    """Every saved scene, in the order they were first saved."""

    scenes: list[SceneOut]


class SceneRun(BaseModel):
    """What running a scene did: one line per light."""

    id: str
    results: dict[str, str]


def _scene_id(name: str) -> str:
    return _ID_RE.sub("-", name.strip().lower()).strip("-") or "scene"


async def _load(request: Request) -> list[dict[str, Any]]:
    value = await runtime_of(request).core.persistence.get_setting(SETTING_KEY, [])
    return [s for s in value if isinstance(s, dict)] if isinstance(value, list) else []


@router.get("", response_model=SceneList)
async def list_scenes(request: Request) -> SceneList:
    """The saved scenes."""
    return SceneList(scenes=[SceneOut.model_validate(s) for s in await _load(request)])


@router.post("", response_model=SceneOut, responses=problems(422), dependencies=[CONTROL])
async def save_scene(request: Request, body: SceneIn) -> Any:
    """Save a scene (a scene of the same name is replaced). Every light must be a light of this coach."""
    entities = runtime_of(request).core.entities.entities
    for entity_id, light in body.lights.items():
        entity = entities.get(entity_id)
        if entity is None or entity.config.type.value != "light":
            return problem_response(422, f"{entity_id!r} is not a light of this coach", field="lights")
        if light.brightness is not None and "set_brightness" not in entity.capabilities:
            return problem_response(422, f"{entity_id!r} cannot be dimmed: leave out `brightness`", field="lights")
    scenes = await _load(request)
    scene = SceneOut(id=_scene_id(body.name), name=body.name.strip(), lights=body.lights)
    kept = [s for s in scenes if s.get("id") != scene.id]
    if len(kept) >= MAX_SCENES:
        return problem_response(422, f"at most {MAX_SCENES} scenes: delete one first", field="name")
    kept.append(scene.model_dump(exclude_none=True))
    await runtime_of(request).core.persistence.set_setting(SETTING_KEY, kept)
    return scene


@router.delete("/{scene_id}", status_code=204, responses=problems(404), dependencies=[CONTROL])
async def delete_scene(request: Request, scene_id: str) -> None:
    """Delete a scene."""
    scenes = await _load(request)
    kept = [s for s in scenes if s.get("id") != scene_id]
    if len(kept) == len(scenes):
        raise HTTPException(404, f"no scene {scene_id!r}")
    await runtime_of(request).core.persistence.set_setting(SETTING_KEY, kept)


@router.post("/{scene_id}/run", response_model=SceneRun, responses=problems(404), dependencies=[CONTROL])
async def run_scene(request: Request, scene_id: str) -> SceneRun:
    """Set every light of the scene at once; each light's outcome is reported."""
    scene = next((s for s in await _load(request) if s.get("id") == scene_id), None)
    if scene is None:
        raise HTTPException(404, f"no scene {scene_id!r}")
    commands: list[tuple[str, str, dict[str, Any] | None]] = []
    for entity_id, light in SceneOut.model_validate(scene).lights.items():
        if not light.on:
            commands.append((entity_id, "turn_off", None))
        elif light.brightness is not None:
            commands.append((entity_id, "turn_on", {"brightness": light.brightness}))
        else:
            commands.append((entity_id, "turn_on", None))
    outcomes = await runtime_of(request).core.entities.execute_many(commands, actor_of(request))
    results = {entity_id: (o.outcome.value if isinstance(o, CommandResult) else f"error: {o}")
               for (entity_id, _, _), o in zip(commands, outcomes, strict=True)}
    return SceneRun(id=scene_id, results=results)
