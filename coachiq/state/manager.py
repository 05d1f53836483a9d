"""The state manager core service: vehicle state, interlocks, safe state, emergency stop, motion supervision.

Vehicle state comes from the best fresh chassis source (vehicle_sources.py): CHASSIS_MOBILITY_STATUS, and
the chassis J1939 bus when the j1939 feature adds it. Parked (speed 0), moving, or unknown (never heard,
stale, or speed not available). Unknown counts as unsafe; sources that disagree count as moving.

Position-critical devices (slides, awnings, jacks) move only while parked with the park brake set (jacks
also with the engine off, when the engine speed is known), and never in safe state: CAN interface down,
stale or missing chassis data, a P1 alert, or emergency stop. Entering safe state stops every motion.
Motion is momentary: each extend/retract runs for a bounded duration and must be renewed by repeating
the command; when it runs out, or the client that started it goes away, a stop is sent.

The supervisor checks ten times a second while a motion is in progress or a device reports one. With
nothing moving it checks once a second, and is woken at once by a new motion or an entity update that
reports motion (a P1 alert runs a check at once anyway): an idle coach costs fewer wake-ups.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from coachiq.can.interface import CanInterfaceService, LinkState
from coachiq.can.pipeline import RvcFrame
from coachiq.can.protocol import FRAME_TOPIC, RvcProtocolService
from coachiq.core.alerts import Alert, AlertManager, Priority
from coachiq.core.events import EventBus
from coachiq.core.service import Health, Status
from coachiq.core.tasks import cancel_all, next_tick
from coachiq.entities.model import MOTION_COMMANDS, SAFETY_ACTOR, CommandResult, EntityType, Outcome
from coachiq.persistence.store import PersistenceService
from coachiq.settings import Settings
from coachiq.state.blocked import motion_blocked
from coachiq.state.vehicle_sources import RVC_RANK, Reading, VehicleSources

log = logging.getLogger(__name__)

__all__ = ["SAFETY_TOPIC", "MotionActuator", "StateManager", "VehicleState"]

SAFETY_TOPIC = "safety.state"  # payload: the snapshot() dict, published when it changes

EMERGENCY_STOP_SETTING = "safety.emergency_stop"
_TICK_S = 0.1
_IDLE_TICK_S = 1.0  # nothing moving: only the safe-state log line can wait this long
_ENTITY_UPDATE_TOPIC = "entity.update"  # published by the entity manager
CLOCK_TOLERANCE_S = 0.5  # wall clock against the monotonic clock between two supervisor ticks
CLOCK_ALERT_S = 60.0  # how long the alert of a clock jump stands
CLOCK_ALERT = "state:clock"


class VehicleState:
    """The three vehicle states."""

    PARKED = "parked"
    MOVING = "moving"
    UNKNOWN = "unknown"


class GatedEntity(Protocol):
    """What the safety gate needs to know about an entity."""

    @property
    def id(self) -> str: ...

    @property
    def type(self) -> EntityType: ...

    @property
    def position_critical(self) -> bool: ...


class MotionActuator(Protocol):
    """The side that can stop devices: the entity manager."""

    def moving(self) -> list[str]:
        """Ids of position-critical entities that report motion."""

    def position_critical(self) -> list[str]:
        """Ids of every position-critical entity."""

    async def stop_motion(self, entity_id: str, actor: str, reason: str) -> CommandResult:
        """Send stop to one entity and wait for the result."""


@dataclass(slots=True)
class Motion:
    """A motion in progress: who started it and when it must be renewed by."""

    entity_id: str
    command: str
    client_id: str | None
    actor: str
    deadline: float  # time.monotonic()


class StateManager:
    """Core service "state"."""

    name = "state"

    def __init__(self, settings: Settings, events: EventBus, can: CanInterfaceService, rvc: RvcProtocolService,
                 alerts: AlertManager, persistence: PersistenceService) -> None:
        """The entity manager attaches itself as the actuator when it is built."""
        self.settings = settings
        self.events = events
        self.can = can
        self.rvc = rvc
        self.alerts = alerts
        self.persistence = persistence
        self.chassis_stale_s = settings.chassis_stale_s
        self.actuator: MotionActuator | None = None
        self.emergency: bool = False
        self.motions: dict[str, Motion] = {}
        self.chassis: dict[str, Any] = {}
        self.chassis_heard: float | None = None  # time.time() of the last chassis frame, repeats included
        self._chassis_dgn: int | None = None
        self._chassis_id: int | None = None
        self._stopping: set[str] = set()
        self._unstopped: dict[str, str] = {}  # entity id -> why: stops that could not be sent
        self._last_reasons: list[str] = []
        self._unsubscribe: list[Callable[[], None]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._wake = asyncio.Event()
        # Features add their own chassis sources (the j1939 feature: rank 0, preferred over RV-C).
        self.vehicle = VehicleSources(self.chassis_stale_s, alerts)
        self.vehicle.add(_RvcMobility(self), RVC_RANK)
        self._published: dict[str, Any] | None = None
        self._clocks = (time.time(), time.monotonic())
        self._clock_jumped_at: float | None = None  # time.monotonic()

    def attach_actuator(self, actuator: MotionActuator) -> None:
        """Who to ask to stop devices (the entity manager registers itself when it is built)."""
        self.actuator = actuator

    # --- life cycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Follow the chassis, restore a held emergency stop, and start supervising motion."""
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
        self._unsubscribe.append(self.events.subscribe(FRAME_TOPIC, self._on_frame))
        self._unsubscribe.append(self.events.subscribe(_ENTITY_UPDATE_TOPIC, self._on_entity_update))
        self._unsubscribe.append(self.alerts.subscribe(self._on_alert))
        self._tasks.append(asyncio.create_task(self._supervise_loop(), name="state-supervisor"))

    async def stop(self) -> None:
        """Stop supervising (motions in progress run out on the devices by their own duration)."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        await cancel_all(self._tasks)
        await self.settle()

    async def settle(self) -> None:
        """Wait for the stops in flight to finish."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    async def health(self) -> Health:
        """Healthy while supervising; the safe state is reported, not a failure."""
        if not self._tasks:
            return Health(Status.STOPPED, "not started")
        if any(t.done() for t in self._tasks):
            return Health(Status.UNHEALTHY, "the motion supervisor stopped")
        reasons = self.reasons()
        detail = f"vehicle {self.vehicle_state()}; " + (f"safe state: {'; '.join(reasons)}" if reasons
                                                         else "normal")
        return Health(Status.HEALTHY, detail, {"safe_state": bool(reasons), "motions": len(self.motions)})

    # --- vehicle state --------------------------------------------------------------------------

    def _on_frame(self, frame: RvcFrame) -> None:
        if frame.dgn != self._chassis_dgn or frame.own:
            return
        before = (self.vehicle_state(), self.chassis.get("park_brake"), self.chassis.get("engine_speed"))
        self.chassis = dict(frame.decoded.values)
        self._chassis_id = frame.can_id
        self.chassis_heard = frame.timestamp  # the latest, not the largest: the clock may have gone back
        if (self.vehicle_state(), self.chassis.get("park_brake"), self.chassis.get("engine_speed")) != before:
            # The coach started to roll (or stopped): stop what may no longer move now, not at the next tick.
            with contextlib.suppress(RuntimeError):  # no running loop: the supervisor will see it
                self.supervise()

    def _on_entity_update(self, update: Any) -> None:
        values = getattr(update, "values", None)
        if values is not None and "motion" in values:
            self._wake.set()  # a device reports motion (or its end): check it now, not at the idle tick

    def _chassis_heard_at(self) -> float | None:
        heard = self.chassis_heard
        if self._chassis_id is not None:
            # A repeated chassis frame is dropped before decoding; it still shows the chassis is alive.
            # The receive path keeps the latest time of every identifier, decoded or not.
            seen = self.can.pipeline.last_seen(self._chassis_id)
            if seen is not None:
                heard = self.chassis_heard = seen
        return heard

    def vehicle_state(self, now: float | None = None) -> str:
        """parked, moving or unknown."""
        return self.vehicle.resolve(time.time() if now is None else now).state

    def interlocks(self, now: float | None = None) -> dict[str, Any]:
        """Each interlock condition and whether position-critical motion is allowed."""
        now = time.time() if now is None else now
        view = self.vehicle.resolve(now)
        fresh = view.state != VehicleState.UNKNOWN
        park_brake_set = view.park_brake if fresh else None
        rpm = view.engine_rpm if fresh else None
        engine_off = None if rpm is None else rpm == 0
        reasons = self.reasons(now)
        allowed = not reasons and view.state == VehicleState.PARKED and park_brake_set is True
        return {"parked": view.state == VehicleState.PARKED, "park_brake_set": park_brake_set,
                "engine_off": engine_off, "speed_kmh": view.speed_kmh if fresh else None,
                "gear": view.gear if fresh else None, "source": view.source, "moving_reason": view.moving_reason,
                "slides_awnings_allowed": allowed, "jacks_allowed": allowed and engine_off is not False}

    # --- safe state -----------------------------------------------------------------------------

    def reasons(self, now: float | None = None) -> list[str]:
        """Why the system is in safe state (empty: it is not)."""
        now = time.time() if now is None else now
        found = []
        if self.emergency:
            found.append("emergency stop is set")
        for link in self.can.links.values():
            if link.state is not LinkState.UP:
                found.append(f"CAN interface '{link.name}' is {link.state.value}")
        if not self.can.links:
            found.append("no CAN interface is running")
        view = self.vehicle.resolve(now)
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
        reasons = self.reasons(now)
        return {"vehicle_state": self.vehicle_state(now), "safe_state": bool(reasons), "reasons": reasons,
                "emergency_stop": self.emergency, "interlocks": self.interlocks(now),
                "motion_blocked": motion_blocked(self.motion_refusal, now)}

    def publish_if_changed(self) -> None:
        """Publish the safety snapshot on SAFETY_TOPIC when it differs from the last one published."""
        if not self.events.has_subscribers(SAFETY_TOPIC):
            return
        snapshot = self.snapshot()
        if snapshot != self._published:
            self._published = snapshot
            self.events.publish(SAFETY_TOPIC, snapshot)

    def check(self, entity: GatedEntity, command: str) -> str | None:
        """The safety gate: None when the command may go out, else the reason it is refused."""
        if not entity.position_critical or command not in MOTION_COMMANDS:
            return None  # stop is always allowed; other devices have no interlocks
        return self.motion_refusal(entity.type)

    def motion_refusal(self, entity_type: EntityType, now: float | None = None) -> str | None:
        """Why a device of this position-critical type may not move now (None: it may)."""
        now = time.time() if now is None else now
        reasons = self.reasons(now)
        if reasons:
            return f"safe state: {'; '.join(reasons)}"
        view = self.vehicle.resolve(now)
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

    # --- motion supervision ---------------------------------------------------------------------

    def motion_started(self, entity_id: str, command: str, duration_s: float, client_id: str | None,
                       actor: str) -> None:
        """Record (or renew) a motion that must be stopped after `duration_s` unless renewed."""
        self.motions[entity_id] = Motion(entity_id, command, client_id, actor, time.monotonic() + duration_s)
        self._wake.set()  # the supervisor may be on its idle tick

    def motion_stopped(self, entity_id: str) -> None:
        """Forget a motion: a stop was sent."""
        self.motions.pop(entity_id, None)

    def client_gone(self, client_id: str) -> list[str]:
        """The client disconnected: stop every motion it controls; returns the entity ids being stopped."""
        gone = [m.entity_id for m in self.motions.values() if m.client_id == client_id]
        for entity_id in gone:
            self.motions.pop(entity_id, None)
            self._stop(entity_id, f"the controlling client {client_id} went away")
        return gone

    async def emergency_stop(self, actor: str) -> list[CommandResult]:
        """Set emergency stop (held until cleared) and send stop to every position-critical device."""
        self.emergency = True
        self.motions.clear()
        results: list[CommandResult] = []
        actuator = self.actuator
        if actuator is not None:
            # The stops go out before anything else (the push to the clients, the log, the disk): a
            # failing database must not delay them.
            stops = asyncio.gather(*(actuator.stop_motion(i, SAFETY_ACTOR, f"emergency stop by {actor}")
                                     for i in actuator.position_critical()), return_exceptions=True)
            await asyncio.sleep(0)  # every stop runs up to its first frame in the stop lane
            self.publish_if_changed()
            log.warning("emergency stop set by %s", actor)
            outcomes = await stops
            results = [r for r in outcomes if isinstance(r, CommandResult)]
        else:
            self.publish_if_changed()
            log.warning("emergency stop set by %s", actor)
        await self._persist_emergency(True)
        await self._audit(actor, "emergency_stop", "set")
        return results

    async def clear_emergency_stop(self, actor: str) -> None:
        """Release the emergency stop; devices stay stopped until commanded again."""
        self.emergency = False
        log.warning("emergency stop cleared by %s", actor)
        self.publish_if_changed()
        await self._persist_emergency(False)
        await self._audit(actor, "clear_emergency_stop", "cleared")

    async def _audit(self, actor: str, action: str, result: str) -> None:
        try:
            await self.persistence.audit(actor, action, "safety", result, "")
        except Exception as exc:  # the database may be the very thing that failed
            log.error("could not write the audit entry for %s by %s: %s", action, actor, exc)

    async def _persist_emergency(self, value: bool) -> None:
        try:
            await self.persistence.set_setting(EMERGENCY_STOP_SETTING, value)
        except Exception as exc:  # the stop itself must not depend on the disk
            log.error("could not store the emergency stop state: %s", exc)

    def _on_alert(self, alert: Alert, raised: bool) -> None:
        if alert.priority is Priority.P1:
            with contextlib.suppress(RuntimeError):  # no running loop: the supervisor will see it
                self.supervise()

    async def _supervise_loop(self) -> None:
        while True:
            actuator = self.actuator
            if self.motions or self._unstopped or (actuator is not None and actuator.moving()):
                await asyncio.sleep(_TICK_S)
            else:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout_at(next_tick(_IDLE_TICK_S)):
                        await self._wake.wait()
            self.supervise()

    def supervise(self) -> None:
        """One supervision step: stop motions that ran out, and any motion the interlocks no longer allow.

        Safe state (and an interlock that stops holding, e.g. the coach starts to roll) stops every motion
        in progress: those we started and those the devices report.
        """
        monotonic = time.monotonic()
        self._check_clock(monotonic)
        for motion in list(self.motions.values()):
            if motion.deadline <= monotonic:
                self.motions.pop(motion.entity_id, None)
                self._stop(motion.entity_id, f"{motion.command} ran out (not renewed)")
        now = time.time()
        reasons = self.reasons(now)
        if reasons != self._last_reasons:
            if reasons:
                log.warning("safe state: %s", "; ".join(reasons))
            elif self._last_reasons:
                log.info("safe state left")
            self._last_reasons = reasons
        self.publish_if_changed()
        if self.actuator is None:
            return
        moving = self.actuator.moving()
        for entity_id, pending in list(self._unstopped.items()):
            if entity_id in moving:
                self._stop(entity_id, pending)
            else:
                self._unstopped.pop(entity_id, None)
        for entity_id in {*self.motions, *moving}:
            entity_type = _type_of(entity_id)
            why = self.motion_refusal(entity_type, now) if entity_type is not None else None
            if why is not None:
                self.motions.pop(entity_id, None)
                self._stop(entity_id, why)

    def _check_clock(self, monotonic: float) -> None:
        """A wall clock that jumped (NTP after a boot without a real-time clock, a GPS fix, a person) makes
        every time stamp taken before it meaningless: alert, and stop what moves; the vehicle state is
        unknown until the chassis is heard again on the new clock."""
        wall = time.time()
        then_wall, then_monotonic = self._clocks
        self._clocks = (wall, monotonic)
        jump = (wall - then_wall) - (monotonic - then_monotonic)
        if abs(jump) > CLOCK_TOLERANCE_S:
            self._clock_jumped_at = monotonic
            message = f"the system clock jumped by {jump:+.1f} s: motion stopped until the chassis is heard again"
            log.warning("%s", message)
            self.alerts.clear(CLOCK_ALERT)
            self.alerts.raise_alert(CLOCK_ALERT, Priority.P2, "state", message)
            for entity_id in list(self.motions):
                self.motions.pop(entity_id, None)
                self._stop(entity_id, f"the system clock jumped by {jump:+.1f} s")
        elif self._clock_jumped_at is not None and monotonic - self._clock_jumped_at >= CLOCK_ALERT_S:
            self._clock_jumped_at = None
            self.alerts.clear(CLOCK_ALERT)

    def _stop(self, entity_id: str, reason: str) -> None:
        actuator = self.actuator
        if actuator is None or entity_id in self._stopping:
            return
        self._stopping.add(entity_id)

        async def run() -> None:
            stopped = False
            try:
                result = await actuator.stop_motion(entity_id, SAFETY_ACTOR, reason)
                log.info("stopped %s (%s): %s", entity_id, reason, result.outcome)
                stopped = result.outcome is not Outcome.REFUSED  # refused: the stop did not go out
            except Exception:
                log.exception("could not stop %s", entity_id)
            finally:
                self._stopping.discard(entity_id)
            if stopped:
                self._unstopped.pop(entity_id, None)
            else:  # tried again every tick while the device reports motion (the bus may be down)
                self._unstopped[entity_id] = reason
                self._wake.set()

        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _type_of(entity_id: str) -> EntityType | None:
    """The entity type from an id "<type>.<name>" (None for anything else)."""
    try:
        return EntityType(entity_id.split(".", 1)[0])
    except ValueError:
        return None


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
