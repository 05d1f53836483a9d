"""GET /api/v2/system: version, coach, uptime."""

from __future__ import annotations

import time

from fastapi import APIRouter, Request

from coachiq import __version__
from coachiq.api.v2.deps import runtime_of
from coachiq.api.v2.models import SystemOut

router = APIRouter(prefix="/system", tags=["system"])


@router.get("", response_model=SystemOut)
async def system(request: Request) -> SystemOut:
    """What is running: version, coach mapping, whether the coach is simulated, and for how long."""
    runtime = runtime_of(request)
    return SystemOut(version=__version__, coach=runtime.settings.coach, simulated=runtime.settings.simulated,
                     uptime_s=round(time.time() - runtime.started_at, 3), started_at=runtime.started_at)
