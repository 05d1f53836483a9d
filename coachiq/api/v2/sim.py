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

__all__ = ["ChassisIn", "ChassisOut", "FaultIn", "FaultsOut", "router"]

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


class FaultIn(BaseModel):
    """A trouble code a simulated device should start (active) or stop (not active) reporting."""

    model_config = ConfigDict(extra="forbid")

    entity_id: str = Field(max_length=200, description="The simulated device, by the entity id the coach gives it.")
    spn: int = Field(ge=0, le=0x7FFFF, description="Suspect parameter number (19 bits).")
    fmi: int = Field(ge=0, le=31, description="Failure mode identifier (RV-C Table 3.2.5.8).")
    active: bool = Field(True, description="true: raise the fault; false: clear it.")
    red: bool = Field(False, description="Red lamp (needs a technician) rather than yellow.")


class FaultsOut(BaseModel):
    """Every fault the simulated coach reports now."""

    faults: list[dict[str, object]]


@router.post("/fault", response_model=FaultsOut, responses=problems(404, 422))
async def set_fault(body: FaultIn, request: Request) -> FaultsOut:
    """Make a simulated device report, or stop reporting, a trouble code (DM_RV) at once."""
    sim = _sim_of(request)
    try:
        sim.set_fault(body.entity_id, body.spn, body.fmi, body.active, body.red)
    except KeyError as exc:
        raise HTTPException(404, str(exc.args[0])) from exc
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc
    return FaultsOut(faults=sim.faults.active())
