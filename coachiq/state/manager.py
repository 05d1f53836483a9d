"""The state manager core service: vehicle state, interlocks, safe state and the emergency-stop flag.

Vehicle state comes from the best fresh chassis source (vehicle_sources.py): CHASSIS_MOBILITY_STATUS, and
the chassis J1939 bus when the j1939 feature adds it. Parked (speed 0), moving, or unknown (never heard,
stale, or speed not available). Unknown counts as unsafe; sources that disagree count as moving.

Position-critical devices (slides, awnings, jacks) move only while parked with the park brake set (jacks
also with the engine off, when the engine speed is known), and never in safe state: CAN interface down,
stale or missing chassis data, a P1 alert, or emergency stop. Entering safe state stops every motion.
Motion is momentary: each extend/retract runs for a bounded duration and must be renewed by repeating
the command; when it runs out, or the client that started it goes away, a stop is sent.

This service decides; it moves nothing. The entity manager asks it (`check`, a read-only safety gate)
before a command goes out, and the motion supervisor (supervisor.py), built after both, stops what the
decisions here no longer allow.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from coachiq.can.interface import CanInterfaceService, LinkState
from coachiq.core.alerts import AlertManager, Priority
from coachiq.core.events import EventBus
from coachiq.core.service import Health, Status
from coachiq.entities.model import MOTION_COMMANDS, EntityType
from coachiq.entities.motions import GatedEntity
from coachiq.entities.topics import FRAME, SAFETY_STATE, VEHICLE_CHANGED
from coachiq.persistence.store import PersistenceService
from coachiq.rvc.receive import RvcFrame
from coachiq.rvc.service import RvcProtocolService
from coachiq.settings import Settings
from coachiq.state.blocked import motion_blocked
from coachiq.state.vehicle_sources import RVC_RANK, Reading, VehicleSources, VehicleView

log = logging.getLogger(__name__)

__all__ = ["StateManager", "VehicleState"]

EMERGENCY_STOP_SETTING = "safety.emergency_stop"


class VehicleState:
    """The three vehicle states."""

    PARKED = "parked"
    MOVING = "moving"
    UNKNOWN = "unknown"


class StateManager:
    """Core service "state"."""

    name = "state"

    def __init__(self, settings: Settings, events: EventBus, can: CanInterfaceService, rvc: RvcProtocolService,
                 alerts: AlertManager, persistence: PersistenceService) -> None:
        """Nothing runs until start(); the motion supervisor is built on top of this service."""
        self.settings = settings
        self.events = events
        self.can = can
        self.rvc = rvc
        self.alerts = alerts
        self.persistence = persistence
        self.chassis_stale_s = settings.chassis_stale_s
        self.emergency: bool = False
        self.chassis: dict[str, Any] = {}
        self.chassis_heard: float | None = None  # time.time() of the last chassis frame, repeats included
        self._chassis_dgn: int | None = None
        self._chassis_id: int | None = None
        self._unsubscribe: list[Callable[[], None]] = []
        # Features add their own chassis sources (the j1939 feature: rank 0, preferred over RV-C).
        self.vehicle = VehicleSources(self.chassis_stale_s, alerts)
        self.vehicle.add(_RvcMobility(self), RVC_RANK)
        self._published: dict[str, Any] | None = None

    # --- life cycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Follow the chassis and restore a held emergency stop."""
        codec = self.rvc.codec
        if codec is not None:
            with contextlib.suppress(KeyError):
                self._chassis_dgn = codec.spec_for("CHASSIS_MOBILITY_STATUS").dgn
        try:
            self.emergency = bool(await self.persistence.get_setting(EMERGENCY_STOP_SETTING, False))
        except Exception as exc:  # unreadable: assume the worst, an emergency stop still holds
            log.error("cannot read the emergency stop state (%s): holding emergency stop", exc)
            self.emergency = True
        if self.emergency:
            log.warning("emergency stop is set (from before the restart): clear it to move slides, awnings, jacks")
        self._unsubscribe.append(self.events.subscribe(FRAME, self._on_frame))

    async def stop(self) -> None:
        """Stop following the chassis."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()

    async def health(self) -> Health:
        """Healthy while following the chassis; the safe state is reported, not a failure."""
        if not self._unsubscribe:
            return Health(Status.STOPPED, "not started")
        reasons = self.reasons()
        detail = f"vehicle {self.vehicle_state()}; " + (f"safe state: {'; '.join(reasons)}" if reasons
                                                         else "normal")
        return Health(Status.HEALTHY, detail, {"safe_state": bool(reasons)})

    # --- vehicle state --------------------------------------------------------------------------

    def _on_frame(self, frame: RvcFrame) -> None:
        if frame.dgn != self._chassis_dgn or frame.own:
            return
        before = (self.vehicle_state(), self.chassis.get("park_brake"), _engine_running(self.chassis))
        self.chassis = dict(frame.decoded.values)
        self._chassis_id = frame.can_id
        self.chassis_heard = frame.timestamp  # the latest, not the largest: the clock may have gone back
        vehicle_state = self.vehicle_state()
        if (vehicle_state, self.chassis.get("park_brake"), _engine_running(self.chassis)) != before:
            # The coach started to roll (or stopped), the brake or the engine changed: what may no longer
            # move is stopped now, not at the supervisor's next tick. A running engine changes speed at
            # every frame; the interlocks ask only whether it runs, so that alone is no change.
            self.events.publish(VEHICLE_CHANGED, vehicle_state)

    def vehicle_input_changed(self) -> None:
        """A vehicle source heard an interlock input change (rolling, park brake, gear, engine running):
        the motion supervisor checks now, not at its next tick."""
        self.events.publish(VEHICLE_CHANGED, self.vehicle_state())

    def _chassis_heard_at(self) -> float | None:
        heard = self.chassis_heard
        if self._chassis_id is not None:
            # A repeated chassis frame is dropped before decoding; it still shows the chassis is alive.
            # The receive path keeps the latest time of every identifier, decoded or not.
            seen = self.rvc.receiver.last_seen(self._chassis_id)
            if seen is not None:
                heard = self.chassis_heard = seen
        return heard

    def vehicle_state(self, now: float | None = None) -> str:
        """parked, moving or unknown."""
        return self.vehicle.resolve(time.time() if now is None else now).state

    def interlocks(self, now: float | None = None) -> dict[str, Any]:
        """Each interlock condition and whether position-critical motion is allowed."""
        view = self.vehicle.resolve(time.time() if now is None else now)
        return self._interlocks(view, self._reasons(view))

    def _interlocks(self, view: VehicleView, reasons: list[str]) -> dict[str, Any]:
        fresh = view.state != VehicleState.UNKNOWN
        park_brake_set = view.park_brake if fresh else None
        rpm = view.engine_rpm if fresh else None
        engine_off = None if rpm is None else rpm == 0
        allowed = not reasons and view.state == VehicleState.PARKED and park_brake_set is True
        return {"parked": view.state == VehicleState.PARKED, "park_brake_set": park_brake_set,
                "engine_off": engine_off, "speed_kmh": view.speed_kmh if fresh else None,
                "gear": view.gear if fresh else None, "source": view.source, "moving_reason": view.moving_reason,
                "slides_awnings_allowed": allowed, "jacks_allowed": allowed and engine_off is not False}

    # --- safe state -----------------------------------------------------------------------------

    def reasons(self, now: float | None = None) -> list[str]:
        """Why the system is in safe state (empty: it is not)."""
        return self._reasons(self.vehicle.resolve(time.time() if now is None else now))

    def _reasons(self, view: VehicleView) -> list[str]:
        found = []
        if self.emergency:
            found.append("emergency stop is set")
        for link in self.can.links.values():
            if link.state is not LinkState.UP:
                found.append(f"CAN interface '{link.name}' is {link.state.value}")
        if not self.can.links:
            found.append("no CAN interface is running")
        if view.age_s is None:
            found.append("no chassis data received")
        elif not view.fresh:
            found.append(f"chassis data is stale (last heard {view.age_s:.0f} s ago)")
        found.extend(f"P1 alert: {a.message}" for a in self.alerts.active if a.priority is Priority.P1)
        return found

    def snapshot(self) -> dict[str, Any]:
        """The safety view: vehicle state, safe state and its reasons, emergency stop, interlocks, and why each
        kind of position-critical device may not move now."""
        now = time.time()
        # One view of the sources for the whole snapshot: every part of it answers for the same moment.
        view = self.vehicle.resolve(now)
        reasons = self._reasons(view)
        return {"vehicle_state": view.state, "safe_state": bool(reasons), "reasons": reasons,
                "emergency_stop": self.emergency, "interlocks": self._interlocks(view, reasons),
                "motion_blocked": motion_blocked(lambda entity_type, _now: self._refusal(entity_type, view, reasons),
                                                 now)}

    def publish_if_changed(self) -> None:
        """Publish the safety snapshot on SAFETY_STATE when it differs from the last one published."""
        if not self.events.has_subscribers(SAFETY_STATE):
            return
        snapshot = self.snapshot()
        if snapshot != self._published:
            self._published = snapshot
            self.events.publish(SAFETY_STATE, snapshot)

    def check(self, entity: GatedEntity, command: str) -> str | None:
        """The safety gate: None when the command may go out, else the reason it is refused."""
        if not entity.position_critical or command not in MOTION_COMMANDS:
            return None  # stop is always allowed; other devices have no interlocks
        return self.motion_refusal(entity.type)

    def motion_refusal(self, entity_type: EntityType, now: float | None = None) -> str | None:
        """Why a device of this position-critical type may not move now (None: it may)."""
        view = self.vehicle.resolve(time.time() if now is None else now)
        return self._refusal(entity_type, view, self._reasons(view))

    def _refusal(self, entity_type: EntityType, view: VehicleView, reasons: list[str]) -> str | None:
        if reasons:
            return f"safe state: {'; '.join(reasons)}"
        if view.state == VehicleState.UNKNOWN:
            return "vehicle state is unknown: position-critical devices move only when the coach is known parked"
        if view.state == VehicleState.MOVING:
            return f"the coach counts as moving ({view.moving_reason})"
        if view.park_brake is not True:
            return "the park brake is not set"
        rpm = view.engine_rpm
        if entity_type is EntityType.JACK and rpm is not None and rpm > 0:
            return f"the engine is running ({rpm} rpm): jacks move only with the engine off"
        return None

    # --- emergency stop -------------------------------------------------------------------------

    def set_emergency(self, held: bool) -> None:
        """Hold (or release) the emergency stop: while held, nothing position-critical may move. Only the
        motion supervisor calls this, as it sends the stops."""
        self.emergency = held

    async def record_emergency(self, held: bool, actor: str) -> None:
        """Store the emergency stop (it holds across a restart) and audit who set or cleared it; a failing
        database is logged, never raised: the stop itself must not depend on the disk."""
        try:
            await self.persistence.set_setting(EMERGENCY_STOP_SETTING, held)
        except Exception as exc:
            log.error("could not store the emergency stop state: %s", exc)
        action, result = ("emergency_stop", "set") if held else ("clear_emergency_stop", "cleared")
        try:
            await self.persistence.audit(actor, action, "safety", result, "")
        except Exception as exc:  # the database may be the very thing that failed
            log.error("could not write the audit entry for %s by %s: %s", action, actor, exc)


def _engine_running(chassis: dict[str, Any]) -> bool | None:
    """Whether CHASSIS_MOBILITY_STATUS says the engine runs (None: engine speed not available)."""
    rpm = chassis.get("engine_speed")
    return None if rpm is None else rpm > 0


class _RvcMobility:
    """CHASSIS_MOBILITY_STATUS as a vehicle source (the last decoded values, heard including repeats)."""

    name = "rvc"

    def __init__(self, state: StateManager) -> None:
        self._state = state

    def reading(self, now: float) -> Reading:
        """The last CHASSIS_MOBILITY_STATUS values and when the chassis was last heard."""
        values = self._state.chassis
        brake = values.get("park_brake")
        return Reading(self._state._chassis_heard_at(), values.get("vehicle_speed"),
                       None if brake is None else brake == "engaged", values.get("transmission_current_gear"),
                       values.get("engine_speed"))
