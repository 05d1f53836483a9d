"""/api/v2/can: interfaces, statistics, recent frames; sending raw frames is the can_tools feature's.

A raw frame goes around the entity manager and so around the safety gate. Sending one is a maintenance
tool: refused here (403, audited) unless the can_tools feature runs, whose own route then answers in
place of this one with the allow-list of the safety model (coachiq.state.raw_frames).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request

from coachiq.api.v2.deps import actor_of, problem_response, runtime_of
from coachiq.api.v2.models import (
    FrameList,
    InterfaceList,
    RawFrameIn,
    RawFrameSent,
    StatisticsOut,
    problems,
)
from coachiq.realtime.can_stream import frame_json, parse_dgn

log = logging.getLogger(__name__)

router = APIRouter(prefix="/can", tags=["can"])

RAW_SEND_OFF = ("sending raw CAN frames is a maintenance tool and is off: enable the can_tools feature "
                "(COACHIQ_FEATURE_CAN_TOOLS=true); entities' commands pass the safety gate instead")


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
    pipeline = runtime.core.rvc.receiver
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


@router.post("/send", response_model=RawFrameSent, responses=problems(403, 422, 429, 503))
async def send(body: RawFrameIn, request: Request) -> Any:
    """Send one raw frame (maintenance): only with the can_tools feature on, and only DGNs that cannot move,
    reset or reconfigure anything; 403 with the reason otherwise. Every attempt is audited."""
    runtime = runtime_of(request)
    await runtime.core.persistence.audit(actor_of(request), "can.send", f"can:{body.interface}:{str(body.dgn)[:40]}",
                                         "refused", "the can_tools feature is off")
    return problem_response(403, RAW_SEND_OFF, reason=RAW_SEND_OFF)
