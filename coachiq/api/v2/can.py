"""/api/v2/can: interfaces, statistics, recent frames, and sending a raw frame.

A raw frame goes around the entity manager and so around the safety gate. Frames that could move a
slide, awning, jack, shade or window are therefore refused (409): the command DGNs of those device
families, and any command DGN addressed to an instance a position-critical entity uses (the DC relay
outputs that drive a slide's or jack's motor pair).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Query, Request

from coachiq.api.roles import RAW_CAN
from coachiq.api.v2.deps import actor_of, problem_response, runtime_of
from coachiq.api.v2.models import (
    FrameList,
    InterfaceList,
    RawFrameIn,
    RawFrameSent,
    StatisticsOut,
    problems,
)
from coachiq.can.interface import CanTransmitError
from coachiq.entities.model import POSITION_CRITICAL_TYPES
from coachiq.realtime.can_stream import frame_json, parse_dgn

if TYPE_CHECKING:  # the runtime imports the core services, which import this package's service
    from coachiq.runtime import Runtime

log = logging.getLogger(__name__)

router = APIRouter(prefix="/can", tags=["can"])

SEND_TIMEOUT_S = 2.0

# Command DGNs whose every use moves something.
MOTION_COMMAND_DGNS = frozenset({"SLIDE_COMMAND", "AWNING_COMMAND", "WINDOW_SHADE_CONTROL_COMMAND",
                                 "WINDOW_COMMAND", "DC_MOTOR_CONTROL_COMMAND"})


def _moves_something(name: str) -> bool:
    return name in MOTION_COMMAND_DGNS or (name.startswith("LEVELING_") and "COMMAND" in name) \
        or (name.startswith("STEP") and "COMMAND" in name)


def position_critical_outputs(runtime: Runtime) -> set[tuple[str, int]]:
    """(command DGN name, instance) of every output a position-critical entity drives."""
    outputs: set[tuple[str, int]] = set()
    for entity in runtime.core.entities.entities.values():
        if entity.type not in POSITION_CRITICAL_TYPES:
            continue
        config = entity.config
        command_dgn = getattr(config, "command_dgn", None)
        if not command_dgn:
            continue
        for key in ("instance", "extend_instance", "retract_instance"):
            instance = getattr(config, key, None)
            if isinstance(instance, int):
                outputs.add((command_dgn, instance))
    return outputs


def refusal(runtime: Runtime, dgn: int, data: bytes) -> str | None:
    """Why a raw frame must not be sent, or None."""
    codec = runtime.core.rvc.codec
    if codec is None:
        return None
    try:
        spec = codec.spec_for(dgn)
    except KeyError:
        return None  # not an RV-C DGN we know: it cannot be a known motion command
    if _moves_something(spec.name):
        return (f"{spec.name} moves a position-critical device: use the entity's commands, which pass the "
                "safety interlocks")
    if spec.kind == "command":
        instance = codec.decode(dgn, data).instance
        if instance is not None and (spec.name, instance) in position_critical_outputs(runtime):
            return (f"{spec.name} instance {instance} drives a slide or jack motor: use the entity's commands, "
                    "which pass the safety interlocks")
    return None


@router.get("/interfaces", response_model=InterfaceList)
async def interfaces(request: Request) -> dict[str, Any]:
    """The configured CAN interfaces and their state."""
    can = runtime_of(request).core.can
    return {"interfaces": [
        {"name": link.name, "interface": link.settings.interface, "channel": link.settings.channel,
         "bitrate": link.settings.bitrate, "state": link.state.value, "last_error": link.last_error,
         "source_address": link.claimer.address, "address_claim": link.claimer.state.value,
         "reconnects": link.reconnects}
        for link in can.links.values()]}


@router.get("/statistics", response_model=StatisticsOut)
async def statistics(request: Request) -> dict[str, Any]:
    """Frame, error and bus-load counters of every interface, and the decoder's counters."""
    runtime = runtime_of(request)
    pipeline = runtime.core.can.pipeline
    return {"interfaces": {name: link.stats.snapshot() for name, link in runtime.core.can.links.items()},
            "decoded_frames": pipeline.decoded_frames, "decode_errors": pipeline.decode_errors,
            "unknown_dgns": {f"0x{dgn:05X}": n for dgn, n in pipeline.unknown_dgns.items()},
            "transport_messages": runtime.core.rvc.transport_messages}


@router.get("/frames", response_model=FrameList, responses=problems(422))
async def frames(
    request: Request,
    limit: int = Query(default=100, ge=1, le=500),
    dgn: str | None = Query(default=None, max_length=64, description="A DGN number, \"0x...\" or name."),
) -> dict[str, Any]:
    """The most recent frames with a new payload (repeats are not kept), oldest first."""
    runtime = runtime_of(request)
    recent = list(runtime.core.api_v2.recent)
    if dgn is not None:
        try:
            wanted = parse_dgn(runtime.core.rvc, int(dgn) if dgn.isdigit() else dgn)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from None
        recent = [f for f in recent if f.dgn == wanted]
    return {"frames": [frame_json(f) for f in recent[-limit:]]}


@router.post("/send", response_model=RawFrameSent, responses=problems(409, 422, 503), dependencies=[RAW_CAN])
async def send(body: RawFrameIn, request: Request) -> Any:
    """Send one raw frame (diagnostics). Motion commands of position-critical devices are refused (409)."""
    runtime = runtime_of(request)
    try:
        dgn = parse_dgn(runtime.core.rvc, body.dgn)
        data = bytes.fromhex(body.data)
    except ValueError as exc:
        raise HTTPException(422, f"invalid frame: {exc}") from None
    if len(data) > 8:
        raise HTTPException(422, f"a CAN frame carries at most 8 bytes, got {len(data)}")
    actor = actor_of(request)
    target = f"can:{body.interface}:0x{dgn:05X}"
    reason = refusal(runtime, dgn, data)
    if reason is not None:
        await runtime.core.persistence.audit(actor, "can.send", target, "refused", reason)
        return problem_response(409, reason, reason=reason)
    if body.interface not in runtime.core.can.links:
        raise HTTPException(422, f"no CAN interface '{body.interface}': configured are "
                                 f"{', '.join(runtime.core.can.links)}")
    try:
        async with asyncio.timeout(SEND_TIMEOUT_S):
            can_id = await runtime.core.can.send(body.interface, dgn, data, priority=body.priority,
                                                 destination=body.destination)
    except TimeoutError:
        await runtime.core.persistence.audit(actor, "can.send", target, "failed", "not sent in time")
        raise HTTPException(503, f"the frame was not sent within {SEND_TIMEOUT_S:.0f} s: the bus is busy or "
                                 "our address is not claimed") from None
    except (CanTransmitError, ValueError) as exc:
        await runtime.core.persistence.audit(actor, "can.send", target, "failed", str(exc))
        raise HTTPException(503 if isinstance(exc, CanTransmitError) else 422, str(exc)) from None
    await runtime.core.persistence.audit(actor, "can.send", target, "sent", data.hex())
    return RawFrameSent(can_id=can_id, dgn=dgn, data=data.hex(" ").upper())
