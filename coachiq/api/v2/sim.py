"""/api/v2/sim: controls of the simulated coach, mounted only when the server runs on it.

The app holds the running SimulatedCoach as `app.state.sim`; `router` carries the full /api/v2/sim
prefix so that the app can include it on its own, and leave it out (404) outside simulation.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field

from coachiq.api.roles import CONTROL
from coachiq.api.v2.models import problems
from coachiq.sim.coach import SimulatedCoach

__all__ = ["ChassisIn", "ChassisOut", "router"]

router = APIRouter(prefix="/api/v2/sim", tags=["simulation"], dependencies=[CONTROL])


class ChassisIn(BaseModel):
    """What the simulated driver should do."""

    model_config = ConfigDict(extra="forbid")

    moving: bool = Field(description="true: drive off (engine on, park brake released unless set below); "
                                     "false: brake to a stop, select park and switch the engine off.")
    park_brake: bool = Field(description="Set (true) or release (false) the park brake.")


class ChassisOut(BaseModel):
    """What the simulated chassis reports now (its CHASSIS_MOBILITY_STATUS is broadcast at once)."""

    moving: bool = Field(description="The driver is driving (speed rises to cruising) rather than stopping.")
    park_brake: bool
    speed_kph: float = Field(ge=0, description="Road speed now; it changes gradually after a request.")


def _sim_of(request: Request) -> SimulatedCoach:
    sim = getattr(request.app.state, "sim", None)
    if not isinstance(sim, SimulatedCoach):
        raise HTTPException(404, "the server is not running on the simulated coach")
    return sim


@router.post("/chassis", response_model=ChassisOut, responses=problems(404, 422))
async def set_chassis(body: ChassisIn, request: Request) -> ChassisOut:
    """Drive or park the simulated coach, and set its park brake."""
    sim = _sim_of(request)
    try:
        state = sim.set_chassis(moving=body.moving, park_brake=body.park_brake)
    except RuntimeError as exc:  # a simulated coach without a chassis
        raise HTTPException(404, str(exc)) from exc
    return ChassisOut(moving=state.moving, park_brake=state.park_brake, speed_kph=state.speed_kph)
