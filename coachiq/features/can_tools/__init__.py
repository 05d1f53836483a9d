"""The can_tools feature: the raw-frame maintenance route, POST /api/v2/can/send.

Off by default. While it runs, its route answers in place of the core's refusal (403). Every frame is
checked against the allow-list of the safety model (coachiq.state.raw_frames), sent at no higher a
priority than the RV-C document gives its DGN, counted against the sender's rate limit, and audited,
whether sent, refused or failed.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, ClassVar

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel

from coachiq.api.roles import RAW_CAN
from coachiq.api.v2.deps import actor_of, problem_response, runtime_of
from coachiq.api.v2.models import RawFrameIn, RawFrameSent
from coachiq.can.interface import CanBusyError, CanTransmitError
from coachiq.core.service import Health, Status
from coachiq.entities.model import EntityType
from coachiq.features.base import FeatureContext, NoSettings
from coachiq.realtime.can_stream import parse_dgn
from coachiq.state.raw_frames import DIMMER_COMMAND_2, RawFramePolicy

if TYPE_CHECKING:
    from coachiq.composition import CoreServices

log = logging.getLogger(__name__)

SEND_TIMEOUT_S = 2.0
SEND_PATH = "/api/v2/can/send"


def authorize_raw_send(request: Request) -> str:
    """Who sends a raw frame (for the audit log and the rate limit).

    With authentication on, the route's RAW_CAN dependency has already admitted admins only.
    """
    return actor_of(request)


def policy_for(core: CoreServices) -> RawFramePolicy:
    """The allow-list for the running coach: its DGN database and the dimmer outputs of its lights."""
    database = core.rvc.db
    if database is None:
        raise RuntimeError("the DGN database is not loaded")
    lights: set[int] = set()
    others: set[int] = set()
    for entity in core.entities.entities.values():
        config = entity.config
        if config.command_dgn != DIMMER_COMMAND_2:
            continue
        outputs = {i for i in (config.instance, config.extend_instance, config.retract_instance) if i is not None}
        if config.type is EntityType.LIGHT and not config.position_critical:
            lights |= outputs
        else:
            others |= outputs
    return RawFramePolicy.for_coach(database, lights, others)


class CanToolsFeature:
    """Serves the raw-frame route while enabled."""

    name: ClassVar[str] = "can_tools"
    settings_model: ClassVar[type[BaseModel]] = NoSettings

    def __init__(self) -> None:
        self.policy: RawFramePolicy | None = None
        self.sent = 0
        self.refused = 0

    async def start(self, ctx: FeatureContext) -> None:
        """Build the allow-list for the coach and add the route."""
        self.policy = policy_for(ctx.core)
        router = APIRouter(include_in_schema=False)  # the core's route documents the endpoint
        router.add_api_route(SEND_PATH, self.send, methods=["POST"], response_model=RawFrameSent,
                             dependencies=[RAW_CAN])
        ctx.add_router(router)

    async def stop(self) -> None:
        """The manager removes the route."""
        self.policy = None

    def health(self) -> Health:
        """Healthy while the allow-list is loaded."""
        if self.policy is None:
            return Health(Status.STOPPED, "not running")
        return Health(Status.HEALTHY, f"raw send enabled: {self.sent} frames sent, {self.refused} refused")

    async def send(self, body: RawFrameIn, request: Request) -> Any:
        """Send one raw frame from the allow-list (403 with the reason when it is not on it)."""
        runtime = runtime_of(request)
        core = runtime.core
        actor = authorize_raw_send(request)
        policy = self.policy
        if policy is None:
            return problem_response(403, "raw send is off", reason="the can_tools feature is stopping")
        try:
            dgn = parse_dgn(core.rvc, body.dgn)
            data = bytes.fromhex(body.data)
        except ValueError as exc:
            raise HTTPException(422, f"invalid frame: {exc}") from None
        if len(data) > 8:
            raise HTTPException(422, f"a CAN frame carries at most 8 bytes, got {len(data)}")
        target = f"can:{body.interface}:0x{dgn:05X}"
        reason = policy.refusal(dgn, data, body.destination)
        if reason is not None:
            self.refused += 1
            await core.persistence.audit(actor, "can.send", target, "refused", f"{reason}; data {data.hex()}")
            return problem_response(403, reason, reason=reason)
        if body.interface not in core.can.links:
            raise HTTPException(422, f"no CAN interface '{body.interface}': configured are "
                                     f"{', '.join(core.can.links)}")
        spec = policy.database.get(dgn)
        priority = max(body.priority, spec.priority if spec is not None else 6)  # never above the document's
        try:
            async with asyncio.timeout(SEND_TIMEOUT_S):
                can_id = await core.can.send(body.interface, dgn, data, priority=priority,
                                             destination=body.destination, client=f"raw:{actor}")
        except TimeoutError:
            await core.persistence.audit(actor, "can.send", target, "failed", "not sent in time")
            raise HTTPException(503, f"the frame was not sent within {SEND_TIMEOUT_S:.0f} s: the bus is busy or "
                                     "our address is not claimed") from None
        except CanBusyError as exc:
            await core.persistence.audit(actor, "can.send", target, "busy", str(exc))
            return problem_response(429 if exc.rate_limited else 503, str(exc), reason=str(exc))
        except (CanTransmitError, ValueError) as exc:
            await core.persistence.audit(actor, "can.send", target, "failed", str(exc))
            raise HTTPException(503 if isinstance(exc, CanTransmitError) else 422, str(exc)) from None
        self.sent += 1
        await core.persistence.audit(actor, "can.send", target, "sent", f"{data.hex()} priority {priority}")
        return RawFrameSent(can_id=can_id, dgn=dgn, data=data.hex(" ").upper())
