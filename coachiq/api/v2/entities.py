"""/api/v2/entities: list, read, history, commands (one or several), and unmapped traffic."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse

from coachiq.api.roles import CONTROL
from coachiq.api.v2.deps import ServerView, actor_of, problem_response, runtime_of
from coachiq.api.v2.models import (
    BatchRequest,
    BatchResponse,
    BatchResult,
    CommandConfirmed,
    CommandRequest,
    HistoryOut,
    HistorySampleOut,
    UnmappedList,
    problems,
)
from coachiq.api.v2.service import GZIP_MINIMUM_SIZE
from coachiq.entities.manager import EntityManager
from coachiq.entities.model import CommandBusy, CommandResult, InvalidBatch, InvalidCommand, Outcome, UnknownEntity

router = APIRouter(prefix="/entities", tags=["entities"])

_ID_PATTERN = r"^[a-z][a-z0-9_]*\.[a-z0-9_]+$"


def _manager(request: Request) -> EntityManager:
    return runtime_of(request).core.entities


def _not_found(entity_id: str) -> HTTPException:
    return HTTPException(404, f"no entity '{entity_id}': GET /api/v2/entities lists them")


def _result_http(result: CommandResult) -> CommandConfirmed | JSONResponse:
    """A confirmed result, or the problem that tells the client why not."""
    if result.outcome is Outcome.CONFIRMED:
        return CommandConfirmed(command_id=result.command_id, status="confirmed", state=result.state or {})
    if result.outcome is Outcome.REFUSED:
        return problem_response(409, f"{result.command} on {result.entity_id} refused: {result.reason}",
                                reason=result.reason, command_id=result.command_id)
    return problem_response(504, f"{result.entity_id} did not confirm {result.command} in time"
                                 + (f": {result.reason}" if result.reason else ""),
                            reason=result.reason or "timed_out", command_id=result.command_id)


@router.get("", response_model=None, responses=problems(422))
async def list_entities(
    request: Request,
    type: str | None = Query(default=None, max_length=32, description="Only entities of this type."),
    area: str | None = Query(default=None, max_length=64, description="Only entities in this area."),
    capability: str | None = Query(default=None, max_length=64, description="Only entities accepting this."),
) -> Response:
    """Every entity, optionally filtered by type, area and capability (all given filters apply)."""
    return _entity_list(runtime_of(request), request, type, area, capability)


def _entity_list(runtime: ServerView, request: Request, type: str | None, area: str | None,
                 capability: str | None) -> Response:
    # Serialised by the entity manager (and kept until an entity changes) rather than validated per
    # request: the shape is EntityList (documented by DOCUMENTED_MODELS), which the tests hold every
    # entity to. Gzipped here
    # once per change for the clients that take it, so the GZipMiddleware passes it through.
    body = runtime.core.entities.list_json(type, area, capability)
    if len(body) >= GZIP_MINIMUM_SIZE and "gzip" in request.headers.get("accept-encoding", ""):
        return Response(runtime.core.api_v2.gzipped_list((type, area, capability), body),
                        media_type="application/json", headers={"Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
    return Response(body, media_type="application/json")  # the middleware adds Vary as for any response


@router.get("/unmapped", response_model=UnmappedList)
async def unmapped(request: Request) -> dict[str, Any]:
    """Traffic seen on the bus that no mapping entry covers, with a suggested mapping entry each."""
    return {"unmapped": _manager(request).unmapped()}


def _busy(exc: CommandBusy) -> JSONResponse:
    return problem_response(429 if exc.rate_limited else 503, str(exc), reason=str(exc))


@router.post("/commands", response_model=BatchResponse, responses=problems(422), dependencies=[CONTROL])
async def batch_commands(body: BatchRequest, request: Request) -> Any:
    """Run several commands together; each has its own outcome, in the order given.

    The whole batch is validated first: one invalid command or unknown entity makes it a 422 naming
    the command (`field`: commands[i].parameter) and nothing of it runs.
    """
    manager = _manager(request)
    try:
        outcomes = await manager.execute_many(
            [(c.entity_id, c.command, c.all_params()) for c in body.commands], actor_of(request))
    except InvalidBatch as exc:
        return problem_response(422, str(exc), field=exc.field)
    results: list[BatchResult] = []
    for wanted, outcome in zip(body.commands, outcomes, strict=True):
        entity_id, name = wanted.entity_id, wanted.command
        if isinstance(outcome, CommandResult):
            confirmed = outcome.outcome is Outcome.CONFIRMED
            results.append(BatchResult(entity_id=entity_id, command=name, status=outcome.outcome.value,
                                       command_id=outcome.command_id, state=outcome.state if confirmed else None,
                                       reason=None if confirmed else (outcome.reason or outcome.outcome.value)))
        elif isinstance(outcome, CommandBusy):
            results.append(BatchResult(entity_id=entity_id, command=name, status="busy", reason=str(outcome)))
        else:
            results.append(BatchResult(entity_id=entity_id, command=name, status="error",
                                       reason=str(outcome) or type(outcome).__name__))
    return BatchResponse(results=results)


@router.get("/{entity_id}", response_model=None, responses=problems(404, 422))
async def get_entity(request: Request, entity_id: str) -> Response:
    """One entity and its state."""
    entity = _manager(request).entities.get(entity_id)
    if entity is None:
        raise _not_found(entity_id)
    # Sent as it is, like the list: the tests hold every state to EntityOut, requests do not pay for it.
    return JSONResponse(entity.to_json())


@router.get("/{entity_id}/history", response_model=HistoryOut, responses=problems(404, 422))
async def history(
    request: Request,
    entity_id: str,
    since: float | None = Query(default=None, ge=0, le=1e11, description="Only samples after this time."),
    limit: int = Query(default=500, ge=1, le=5000),
) -> HistoryOut:
    """The entity's recent states, oldest first (memory first, then what was persisted)."""
    manager = _manager(request)
    if entity_id not in manager.entities:
        raise _not_found(entity_id)
    samples = await manager.history(entity_id, since, limit)
    return HistoryOut(entity_id=entity_id,
                      samples=[HistorySampleOut(ts=s["ts"], values=s["values"]) for s in samples])


@router.post("/{entity_id}/commands", response_model=CommandConfirmed, dependencies=[CONTROL],
             responses=problems(404, 409, 422, 429, 503, 504))
async def command(request: Request, entity_id: str, body: CommandRequest) -> Any:
    """Run a command and wait for the device's confirmation.

    200 with the confirmed state; 409 with `reason` when refused (safety, interlock, emergency stop);
    504 when the device did not confirm in time; 422 when the command or a value is invalid; 429 when the
    caller sends faster than its rate limit, 503 when the transmit queue is full (nothing was sent).
    """
    manager = _manager(request)
    try:
        result = await manager.execute(entity_id, body.command, body.all_params(), actor_of(request))
    except UnknownEntity:
        raise _not_found(entity_id) from None
    except InvalidCommand as exc:
        return problem_response(422, str(exc), field=getattr(exc, "field", None))
    except CommandBusy as exc:
        return _busy(exc)
    return _result_http(result)


def _entity_list_model() -> Any:
    from coachiq.api.v2.entity_models import EntityList

    return EntityList


def _entity_model() -> Any:
    from coachiq.api.v2.entity_models import EntityOut

    return EntityOut


# The routes that send entities as the entity manager serialised them: their response models are given to
# the OpenAPI document only, and imported when it is first built (coachiq/api/openapi.py says why).
DOCUMENTED_MODELS: dict[Callable[..., Any], Callable[[], Any]] = {
    list_entities: _entity_list_model, get_entity: _entity_model}
