"""The motion supervisor core service: stops motion that must not go on.

Built after the state manager (which decides what may move) and the entity manager (which moves and
stops devices), and handed both: there is no supervisor without something to stop. It stops a motion
when its duration runs out without renewal, when the interlocks no longer allow it (safe state, the
coach starts to roll), when the client that started it goes away, and every position-critical device
on emergency stop.

It checks ten times a second while a motion is in progress or a device reports one. With nothing moving
it checks once a second, and is woken at once by a new motion, an entity update that reports motion, a
change of the vehicle state or a P1 alert: an idle coach costs few wake-ups.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from coachiq.core.alerts import Alert, Priority
from coachiq.core.service import Health, Status
from coachiq.core.tasks import cancel_all, next_tick
from coachiq.entities.model import SAFETY_ACTOR, CommandResult, EntityType, EntityUpdate, Outcome
from coachiq.entities.motions import MotionLedger
from coachiq.entities.topics import ENTITY_UPDATE, VEHICLE_CHANGED
from coachiq.state.manager import StateManager

log = logging.getLogger(__name__)

__all__ = ["MotionActuator", "MotionSupervisor"]

_TICK_S = 0.1
_IDLE_TICK_S = 1.0  # nothing moving: only the safe-state log line can wait this long
CLOCK_TOLERANCE_S = 0.5  # wall clock against the monotonic clock between two supervisor ticks
CLOCK_ALERT_S = 60.0  # how long the alert of a clock jump stands
CLOCK_ALERT = "state:clock"


class MotionActuator(Protocol):
    """The side that moves and stops devices: the entity manager."""

    @property
    def motions(self) -> MotionLedger:
        """The motions it started and has not stopped."""

    def moving(self) -> list[str]:
        """Ids of position-critical entities that report motion."""

    def position_critical(self) -> list[str]:
        """Ids of every position-critical entity."""

    async def stop_motion(self, entity_id: str, actor: str, reason: str) -> CommandResult:
        """Send stop to one entity and wait for the result."""


class MotionSupervisor:
    """Core service "motion"."""

    name = "motion"

    def __init__(self, state: StateManager, actuator: MotionActuator) -> None:
        """`state` decides what may move; `actuator` stops it."""
        self.state = state
        self.actuator = actuator
        self.motions = actuator.motions
        self._stopping: set[str] = set()
        self._unstopped: dict[str, str] = {}  # entity id -> why: stops that could not be sent
        self._last_reasons: list[str] = []
        self._unsubscribe: list[Callable[[], None]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._clocks = (time.time(), time.monotonic())
        self._clock_jumped_at: float | None = None  # time.monotonic()

    # --- life cycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start supervising motion."""
        events = self.state.events
        self._unsubscribe.append(events.subscribe(ENTITY_UPDATE, self._on_entity_update))
        self._unsubscribe.append(events.subscribe(VEHICLE_CHANGED, self._on_vehicle_changed))
        self._unsubscribe.append(self.state.alerts.subscribe(self._on_alert))
        self._tasks.append(asyncio.create_task(self._supervise_loop(), name="motion-supervisor"))

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
        """Healthy while supervising."""
        if not self._tasks:
            return Health(Status.STOPPED, "not started")
        if any(t.done() for t in self._tasks):
            return Health(Status.UNHEALTHY, "the motion supervisor stopped")
        return Health(Status.HEALTHY, f"{len(self.motions)} motions in progress", {"motions": len(self.motions)})

    def snapshot(self) -> dict[str, Any]:
        """The safety view of the state manager (what a client is shown beside its entities)."""
        return self.state.snapshot()

    # --- what clients ask -----------------------------------------------------------------------

    def client_gone(self, client_id: str) -> list[str]:
        """The client disconnected: stop every motion it controls; returns the entity ids being stopped."""
        gone = self.motions.of_client(client_id)
        for entity_id in gone:
            self.motions.stopped(entity_id)
            self._stop(entity_id, f"the controlling client {client_id} went away")
        return gone

    async def emergency_stop(self, actor: str) -> list[CommandResult]:
        """Set emergency stop (held until cleared) and send stop to every position-critical device."""
        self.state.set_emergency(True)
        self.motions.clear()
        # The stops go out before anything else (the push to the clients, the log, the disk): a failing
        # database must not delay them.
        stops = asyncio.gather(*(self.actuator.stop_motion(i, SAFETY_ACTOR, f"emergency stop by {actor}")
                                 for i in self.actuator.position_critical()), return_exceptions=True)
        await asyncio.sleep(0)  # every stop runs up to its first frame in the stop lane
        self.state.publish_if_changed()
        log.warning("emergency stop set by %s", actor)
        outcomes = await stops
        await self.state.record_emergency(True, actor)
        return [r for r in outcomes if isinstance(r, CommandResult)]

    async def clear_emergency_stop(self, actor: str) -> None:
        """Release the emergency stop; devices stay stopped until commanded again."""
        self.state.set_emergency(False)
        log.warning("emergency stop cleared by %s", actor)
        self.state.publish_if_changed()
        await self.state.record_emergency(False, actor)

    # --- supervision ----------------------------------------------------------------------------

    def _on_entity_update(self, update: EntityUpdate) -> None:
        if "motion" in update.values:
            self.motions.changed.set()  # a device reports motion (or its end): check it now

    def _on_vehicle_changed(self, _vehicle_state: str) -> None:
        # The coach started to roll (or stopped): stop what may no longer move now, not at the next tick.
        with contextlib.suppress(RuntimeError):  # no running loop: the loop will see it
            self.supervise()

    def _on_alert(self, alert: Alert, raised: bool) -> None:
        if alert.priority is Priority.P1:
            with contextlib.suppress(RuntimeError):  # no running loop: the loop will see it
                self.supervise()

    async def _supervise_loop(self) -> None:
        wake = self.motions.changed
        while True:
            if self.motions or self._unstopped or self.actuator.moving():
                await asyncio.sleep(_TICK_S)
            else:
                wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout_at(next_tick(_IDLE_TICK_S)):
                        await wake.wait()
            self.supervise()

    def supervise(self) -> None:
        """One supervision step: stop motions that ran out, and any motion the interlocks no longer allow.

        Safe state (and an interlock that stops holding, e.g. the coach starts to roll) stops every motion
        in progress: those we started and those the devices report.
        """
        monotonic = time.monotonic()
        self._check_clock(monotonic)
        for motion in self.motions.all():
            if motion.deadline <= monotonic:
                self.motions.stopped(motion.entity_id)
                self._stop(motion.entity_id, f"{motion.command} ran out (not renewed)")
        now = time.time()
        reasons = self.state.reasons(now)
        if reasons != self._last_reasons:
            if reasons:
                log.warning("safe state: %s", "; ".join(reasons))
            elif self._last_reasons:
                log.info("safe state left")
            self._last_reasons = reasons
        self.state.publish_if_changed()
        moving = self.actuator.moving()
        for entity_id, pending in list(self._unstopped.items()):
            if entity_id in moving:
                self._stop(entity_id, pending)
            else:
                self._unstopped.pop(entity_id, None)
        for entity_id in {*self.motions, *moving}:
            entity_type = _type_of(entity_id)
            why = self.state.motion_refusal(entity_type, now) if entity_type is not None else None
            if why is not None:
                self.motions.stopped(entity_id)
                self._stop(entity_id, why)

    def _check_clock(self, monotonic: float) -> None:
        """A wall clock that jumped (NTP after a boot without a real-time clock, a GPS fix, a person) makes
        every time stamp taken before it meaningless: alert, and stop what moves; the vehicle state is
        unknown until the chassis is heard again on the new clock."""
        wall = time.time()
        then_wall, then_monotonic = self._clocks
        self._clocks = (wall, monotonic)
        jump = (wall - then_wall) - (monotonic - then_monotonic)
        alerts = self.state.alerts
        if abs(jump) > CLOCK_TOLERANCE_S:
            self._clock_jumped_at = monotonic
            message = f"the system clock jumped by {jump:+.1f} s: motion stopped until the chassis is heard again"
            log.warning("%s", message)
            alerts.clear(CLOCK_ALERT)
            alerts.raise_alert(CLOCK_ALERT, Priority.P2, "state", message)
            for entity_id in list(self.motions):
                self.motions.stopped(entity_id)
                self._stop(entity_id, f"the system clock jumped by {jump:+.1f} s")
        elif self._clock_jumped_at is not None and monotonic - self._clock_jumped_at >= CLOCK_ALERT_S:
            self._clock_jumped_at = None
            alerts.clear(CLOCK_ALERT)

    def _stop(self, entity_id: str, reason: str) -> None:
        if entity_id in self._stopping:
            return
        self._stopping.add(entity_id)
        actuator = self.actuator

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
                self.motions.changed.set()

        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _type_of(entity_id: str) -> EntityType | None:
    """The entity type from an id "<type>.<name>" (None for anything else)."""
    try:
        return EntityType(entity_id.split(".", 1)[0])
    except ValueError:
        return None
