"""/api/v2/safety: vehicle state, safe state and interlocks; emergency stop and its clearing."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from coachiq.api.roles import CLEAR_EMERGENCY_STOP
from coachiq.api.v2.deps import actor_of, runtime_of
from coachiq.api.v2.models import SafetyOut

router = APIRouter(prefix="/safety", tags=["safety"])


@router.get("", response_model=SafetyOut)
async def safety(request: Request) -> dict[str, Any]:
    """What the safety gate sees now: vehicle state, safe state and why, emergency stop, interlocks."""
    snapshot: dict[str, Any] = runtime_of(request).core.state.snapshot()
    return snapshot


@router.post("/emergency-stop", response_model=SafetyOut)
async def emergency_stop(request: Request) -> dict[str, Any]:
    """Stop every slide, awning and jack now and refuse their commands until cleared."""
    core = runtime_of(request).core
    await core.motion.emergency_stop(actor_of(request))
    snapshot: dict[str, Any] = core.state.snapshot()
    return snapshot


@router.post("/emergency-stop/clear", response_model=SafetyOut, dependencies=[CLEAR_EMERGENCY_STOP])
async def clear_emergency_stop(request: Request) -> dict[str, Any]:
    """Clear the emergency stop; other reasons for the safe state still hold."""
    core = runtime_of(request).core
    await core.motion.clear_emergency_stop(actor_of(request))
    snapshot: dict[str, Any] = core.state.snapshot()
    return snapshot
