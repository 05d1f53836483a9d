"""The entity manager core service: coach entities, their state from the bus, and commands to them.

Receiving: every decoded frame ("rvc.frame") is looked up by (DGN, instance) in an index built once
from the mapping; a frame nobody maps only bumps a counter of unmapped traffic. A mapped status frame
is folded into its entity's state; a change is published as one EntityUpdate on "entity.update",
persisted write-behind and sampled into history.

Commanding: validate -> safety gate (StateManager) -> encode and send once -> wait for the device's own
status echo to show the requested state. Our own transmitted frames never count as confirmation, and
state is only ever what the devices report.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from coachiq.can.interface import CanBusyError, CanInterfaceService, CanTransmitError, TransmitRefused
from coachiq.can.pipeline import RvcFrame, instance_bytes
from coachiq.can.protocol import FRAME_TOPIC, RvcProtocolService
from coachiq.can.transmit import Gate
from coachiq.core.errors import ConfigError
from coachiq.core.events import EventBus
from coachiq.core.service import Health, ServiceStartError, Status
from coachiq.core.tasks import cancel_all, sleep_aligned
from coachiq.entities.commands import Plan, Transmission, matches, plan
from coachiq.entities.leveling import ManualHold
from coachiq.entities.mapping import CoachMapping, EntityConfig, load_coach
from coachiq.entities.model import (
    MOTION_COMMANDS,
    SAFETY_ACTOR,
    Command,
    CommandBusy,
    CommandError,
    CommandResult,
    EntityState,
    EntityType,
    EntityUpdate,
    InvalidBatch,
    InvalidCommand,
    Outcome,
    Source,
    UnknownEntity,
)
from coachiq.entities.profiles import fold
from coachiq.entities.states import blank, known_values
from coachiq.entities.unmapped import row
from coachiq.persistence.store import PersistenceService
from coachiq.rvc.codec import EncodeError
from coachiq.settings import Settings

if TYPE_CHECKING:
    from coachiq.state.manager import StateManager


__all__ = ["UPDATE_TOPIC", "Entity", "EntityManager", "InvalidCommand", "UnknownEntity"]

log = logging.getLogger(__name__)

UPDATE_TOPIC = "entity.update"
# Changes the plan of a command (entity config, command name, planned frames) -> the plan to carry out.
PlanAdapter = Callable[[EntityConfig, str, Plan], Plan]
MAX_UNMAPPED = 1000  # distinct (DGN, instance, source) kept; a flood of junk cannot grow memory
_ECHO_POLL_S = 0.02
# A motion frame that waited longer than this in the transmit queue is dropped, not sent late.
MOTION_FRAME_MAX_AGE_S = 0.25


@dataclass(slots=True)
class _Waiter:
    expect: Mapping[str, Any]
    future: asyncio.Future[None]
    sent_at: float


@dataclass(slots=True)
class _Unmapped:
    dgn: int
    name: str | None
    instance: int | None
    source_address: int
    count: int = 0
    last_values: Mapping[str, Any] = field(default_factory=dict)


class Entity:
    """One device of the coach as the owner sees it: configuration plus live state."""

    __slots__ = ("config", "followup", "generation", "heard_keys", "last_heard", "last_sample", "ring", "state",
                 "waiters")

    def __init__(self, config: EntityConfig, ring_size: int) -> None:
        """State starts empty and unavailable until the device is heard (or restored, still unavailable)."""
        self.config = config
        self.state = EntityState(blank(config.device))
        self.last_heard = 0.0
        self.heard_keys: set[tuple[int, int | None]] = set()  # (CAN id, instance byte) seen from the device
        self.last_sample = 0.0
        self.ring: deque[tuple[float, dict[str, Any]]] = deque(maxlen=ring_size)
        self.waiters: list[_Waiter] = []
        # Each command for the device takes the next generation; an older command still sending stops before
        # its next frame, so raced commands never interleave an "opposite off" with a stale "on".
        self.generation = 0
        self.followup: asyncio.Task[None] | None = None

    @property
    def id(self) -> str:
        """The entity id, "<type>.<name>"."""
        return self.config.id

    @property
    def name(self) -> str:
        """Human-readable name."""
        return self.config.name

    @property
    def type(self) -> EntityType:
        """The entity type."""
        return self.config.type

    @property
    def area(self) -> str:
        """The area of the coach it is in."""
        return self.config.area

    @property
    def capabilities(self) -> frozenset[str]:
        """The commands it accepts."""
        return self.config.capabilities

    @property
    def position_critical(self) -> bool:
        """True for slides, awnings, jacks and shades the mapping marks (windshield, driver's side)."""
        return self.config.position_critical

    @property
    def moving(self) -> bool:
        """True when the device reports motion."""
        return self.state.values.get("motion") in ("extending", "retracting")

    def to_json(self) -> dict[str, Any]:
        """The API shape of the entity."""
        return {"id": self.config.id, "name": self.config.name, "type": self.config.type.value,
                "device": self.config.device, "position_critical": self.config.position_critical,
                "area": self.config.area, "capabilities": sorted(self.config.capabilities),
                "state": dict(self.state.values), "available": self.state.available,
                "updated_at": self.state.updated_at}


class EntityManager:
    """Core service "entities"."""

    name = "entities"

    def __init__(self, settings: Settings, events: EventBus, can: CanInterfaceService, rvc: RvcProtocolService,
                 persistence: PersistenceService, state: StateManager, mapping: CoachMapping | None = None) -> None:
        """`mapping` None: load settings.coach (+ settings.coach_file) at start."""
        self.settings = settings
        self.events = events
        self.can = can
        self.rvc = rvc
        self.persistence = persistence
        self.safety = state
        self.mapping = mapping
        self.command_timeout = settings.command_timeout
        self.history_resolution = settings.history_resolution
        self.ring_size = settings.history_ring
        self.entities: dict[str, Entity] = {}
        self._index: dict[int, dict[int | None, list[Entity]]] = {}
        self._instance_byte: dict[int, int] = {}
        self._unmapped: dict[tuple[int, int | None, int], _Unmapped] = {}
        self._adapters: list[PlanAdapter] = []
        self._unsubscribe: Callable[[], None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._holds = ManualHold(self._send_step, self._still_held)
        state.attach_actuator(self)

    # --- life cycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Load the coach mapping, restore persisted state and start following the bus."""
        if self.mapping is None:
            try:
                self.mapping = await asyncio.to_thread(load_coach, self.settings.coach, self.settings.coach_file)
            except ConfigError as exc:
                raise ServiceStartError(f"the coach mapping is invalid: {'; '.join(exc.problems)}",
                                        "fix it (docs/coach-mapping.md); `coachiq config check` lists every "
                                        "problem") from exc
        codec, db = self.rvc.codec, self.rvc.db
        if codec is None or db is None:
            raise ServiceStartError("the RV-C service is not started", "start rvc before entities")
        self._instance_byte = instance_bytes(db)
        self.entities = {cid: Entity(config, self.ring_size) for cid, config in self.mapping.entities.items()}
        index: dict[int, dict[int | None, list[Entity]]] = {}
        for entity in self.entities.values():
            for name in entity.config.status_dgns:
                try:
                    dgn = codec.spec_for(name).dgn
                except KeyError as exc:
                    raise ServiceStartError(f"{entity.id}: the DGN database has no {name}",
                                            "update coachiq or change the mapping") from exc
                for instance in entity.config.status_instances:
                    index.setdefault(dgn, {}).setdefault(instance, []).append(entity)
        self._index = index
        await self._restore()
        self._unsubscribe = self.events.subscribe(FRAME_TOPIC, self._on_frame)
        self._tasks.append(asyncio.create_task(self._stale_loop(), name="entities-stale"))
        log.info("coach %s: %d entities", self.mapping.coach, len(self.entities))

    async def stop(self) -> None:
        """Stop following the bus; pending audit entries are written first."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await cancel_all(self._tasks)
        await self._holds.stop()
        await cancel_all([e.followup for e in self.entities.values() if e.followup is not None])
        await self.settle()

    async def health(self) -> Health:
        """Healthy while following the bus; reports how many entities are available."""
        if self._unsubscribe is None:
            return Health(Status.STOPPED, "not started")
        if any(t.done() for t in self._tasks):
            return Health(Status.UNHEALTHY, "the stale-detection loop stopped")
        available = sum(1 for e in self.entities.values() if e.state.available)
        coach = self.mapping.coach if self.mapping else "?"
        return Health(Status.HEALTHY, f"coach {coach}: {available} of {len(self.entities)} entities available, "
                      f"{len(self._unmapped)} unmapped sources",
                      {"coach": coach, "entities": len(self.entities), "available": available,
                       "unmapped": len(self._unmapped)})

    async def settle(self) -> None:
        """Wait for background work (audit entries, safety stops) to finish."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    # --- queries --------------------------------------------------------------------------------

    def get(self, entity_id: str) -> Entity | None:
        """The entity with this id, or None."""
        return self.entities.get(entity_id)

    def select(self, type: str | None = None, area: str | None = None,
               capability: str | None = None) -> list[Entity]:
        """Entities matching every filter given."""
        return [e for e in self.entities.values()
                if (type is None or e.config.type.value == type) and (area is None or e.config.area == area)
                and (capability is None or capability in e.config.capabilities)]

    async def history(self, entity_id: str, since: float | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Samples of the entity's state, oldest first: persisted ones plus the recent in-memory ring."""
        entity = self.entities.get(entity_id)
        if entity is None:
            raise UnknownEntity(entity_id)
        limit = max(1, min(int(limit), 10_000))
        samples: dict[float, dict[str, Any]] = {}
        for sample in await self.persistence.history(entity_id, since, limit):
            samples[sample.ts] = sample.state
        for ts, values in entity.ring:
            if since is None or ts >= since:
                samples[ts] = values
        ordered = sorted(samples.items())[-limit:]
        return [{"ts": ts, "values": values} for ts, values in ordered]

    def unmapped(self) -> list[dict[str, Any]]:
        """Traffic seen but mapped to no entity, most frequent first, each with a suggested mapping entry."""
        ordered = sorted(self._unmapped.values(), key=lambda u: -u.count)
        return [row(u.dgn, u.name, u.instance, u.source_address, u.count, u.last_values) for u in ordered]

    def moving(self) -> list[str]:
        """Ids of position-critical entities that report motion now (restored or stale state aside)."""
        return [e.id for e in self.entities.values() if e.position_critical and e.moving and e.state.available]

    def position_critical(self) -> list[str]:
        """Ids of every position-critical entity."""
        return [e.id for e in self.entities.values() if e.position_critical]

    # --- receiving ------------------------------------------------------------------------------

    def _on_frame(self, frame: RvcFrame) -> None:
        if frame.own:
            return
        by_instance = self._index.get(frame.dgn)
        decoded = frame.decoded
        targets = None if by_instance is None else by_instance.get(decoded.instance)
        if targets is not None:
            found = False
            for entity in targets:
                wanted = entity.config.source_address
                if wanted is None or wanted == frame.source_address:
                    found = True
                    self._apply(entity, frame)
            if found:
                return
        key = (frame.dgn, decoded.instance, frame.source_address)
        entry = self._unmapped.get(key)
        if entry is None:
            if len(self._unmapped) >= MAX_UNMAPPED:
                return
            entry = self._unmapped[key] = _Unmapped(frame.dgn, decoded.name, decoded.instance, frame.source_address)
        entry.count += 1
        entry.last_values = decoded.values

    def _apply(self, entity: Entity, frame: RvcFrame) -> None:
        decoded = frame.decoded
        position = self._instance_byte.get(frame.dgn)
        payload = decoded.payload
        raw_instance = payload[position] if position is not None and position < len(payload) else None
        entity.heard_keys.add((frame.can_id, raw_instance))
        now = frame.timestamp
        entity.last_heard = max(entity.last_heard, now)
        state = entity.state
        new = fold(entity.config, decoded.name or "", decoded.instance, decoded.values, state.values)
        self._fold_in(entity, new or {}, Source(frame.dgn, frame.source_address), now)
        if entity.waiters:
            for waiter in entity.waiters:
                if not waiter.future.done() and now >= waiter.sent_at and matches(waiter.expect, state.values):
                    waiter.future.set_result(None)

    def _fold_in(self, entity: Entity, new: Mapping[str, Any], source: Source | None, now: float) -> None:
        state = entity.state
        changes = {k: v for k, v in new.items() if k not in state.values or state.values[k] != v}
        became_available = not state.available
        if changes or became_available:
            state.values.update(changes)
            state.updated_at = now
            state.available = True
            state.restored = False
            published = dict(changes)
            if became_available:
                published = {**state.values, "available": True}
            self.events.publish(UPDATE_TOPIC, EntityUpdate(entity.id, published, source, now))
            self._record(entity, now)

    # --- entities a feature feeds ---------------------------------------------------------------

    def add_entity(self, config: EntityConfig) -> Callable[[], None]:
        """Add an entity whose state a feature decodes (e.g. from the chassis bus); returns its remover.

        It is read-only, goes stale like a mapped one, and its changes are published the same way.
        ValueError when the coach mapping already has an entity with this id.
        """
        if config.id in self.entities:
            raise ValueError(f"an entity {config.id!r} already exists: choose another id")
        entity = Entity(config, self.ring_size)
        self.entities[config.id] = entity

        def remove() -> None:
            if self.entities.get(config.id) is entity:
                if entity.state.available:
                    entity.state.available = False
                    self.events.publish(UPDATE_TOPIC, EntityUpdate(config.id, {"available": False}, None,
                                                                   time.time()))
                del self.entities[config.id]

        return remove

    def report(self, entity_id: str, values: Mapping[str, Any], source: Source | None, timestamp: float,
               can_ids: Iterable[int] = ()) -> None:
        """Fold values a feature decoded into its entity (added by add_entity) and publish the change.

        `can_ids`: identifiers of the frames the values came from; their repeats, dropped before
        decoding, keep the entity available.
        """
        entity = self.entities[entity_id]
        entity.heard_keys.update((can_id, None) for can_id in can_ids)
        entity.last_heard = max(entity.last_heard, timestamp)
        self._fold_in(entity, values, source, timestamp)

    def _record(self, entity: Entity, now: float) -> None:
        snapshot = dict(entity.state.values)
        self.persistence.update_entity_state(entity.id, {"values": snapshot, "updated_at": now})
        entity.ring.append((now, snapshot))
        if now - entity.last_sample >= self.history_resolution:
            entity.last_sample = now
            self.persistence.add_history(entity.id, now, snapshot)

    def _last_heard(self, entity: Entity) -> float:
        """Last time the device sent anything, repeats dropped by the receive filter included."""
        pipeline = self.can.pipeline
        latest = entity.last_heard
        for can_id, instance in entity.heard_keys:
            seen = pipeline.last_seen(can_id, instance)
            if seen is not None and seen > latest:
                latest = seen
        entity.last_heard = latest
        return latest

    async def _stale_loop(self) -> None:
        # A quarter of the shortest stale interval, at most a second, on the shared tick.
        interval = max(0.05, min(1.0, min((e.config.stale_s for e in self.entities.values()), default=4) / 4))
        while True:
            await sleep_aligned(interval)
            self.check_stale(time.time())

    def check_stale(self, now: float) -> list[str]:
        """Mark entities not heard within their stale interval unavailable; returns their ids."""
        gone = []
        for entity in self.entities.values():
            state = entity.state
            if state.available:
                if now - entity.last_heard > entity.config.stale_s \
                        and now - self._last_heard(entity) > entity.config.stale_s:
                    state.available = False
                    gone.append(entity.id)
                    self.events.publish(UPDATE_TOPIC, EntityUpdate(entity.id, {"available": False}, None, now))
            elif entity.heard_keys and not state.restored \
                    and now - self._last_heard(entity) <= entity.config.stale_s:
                # Back after a silence with the same payload as before: the receive filter dropped it
                # undecoded, but the values we hold are exactly what it says.
                state.available = True
                self.events.publish(UPDATE_TOPIC, EntityUpdate(entity.id, {**state.values, "available": True},
                                                               None, now))
        return gone

    async def _restore(self) -> None:
        try:
            stored = await self.persistence.load_entity_states()
        except Exception as exc:  # a damaged table must not keep the coach from being controlled
            log.warning("could not restore entity state: %s", exc)
            return
        for entity_id, (data, written) in stored.items():
            entity = self.entities.get(entity_id)
            if entity is None or not isinstance(data, dict) or not isinstance(data.get("values"), dict):
                continue
            entity.state.values = known_values(entity.config.device, data["values"])
            updated = data.get("updated_at")
            entity.state.updated_at = float(updated) if isinstance(updated, int | float) else _epoch(written)
            entity.state.available = False
            entity.state.restored = True

    # --- commands -------------------------------------------------------------------------------

    def add_plan_adapter(self, adapter: PlanAdapter) -> Callable[[], None]:
        """Let `adapter(config, command, plan)` change every plan from now on (a feature for a family of
        devices that departs from plain RV-C); returns a function that removes it."""
        self._adapters.append(adapter)

        def remove() -> None:
            if adapter in self._adapters:
                self._adapters.remove(adapter)

        return remove

    async def execute(self, entity_id: str, command: str, params: Mapping[str, Any] | None, actor: str,
                      client_id: str | None = None) -> CommandResult:
        """Validate, gate, send once and wait for the echo.

        Raises UnknownEntity or InvalidCommand; returns confirmed (with the confirmed state), timed_out
        or refused (with the reason; safety refusals included).
        """
        return await self._execute(entity_id, command, params, actor, client_id)

    async def _execute(self, entity_id: str, command: str, params: Mapping[str, Any] | None, actor: str,
                       client_id: str | None, note: str = "") -> CommandResult:
        entity = self.entities.get(entity_id)
        if entity is None:
            raise UnknownEntity(entity_id)
        if params is None:
            params = {}
        if not isinstance(params, Mapping):
            raise InvalidCommand("parameters must be an object", field="params")
        try:
            steps = plan(entity.config, command, params, entity.state.values)
            for adapter in list(self._adapters):
                steps = adapter(entity.config, command, steps)
        except InvalidCommand as exc:
            self._audit(actor, command, entity_id, "invalid", exc.message)
            raise
        command_id = uuid.uuid4().hex
        reason = self.safety.check(entity, command)
        if reason is not None:
            self._audit(actor, command, entity_id, Outcome.REFUSED.value, reason)
            return CommandResult(command_id, entity_id, command, Outcome.REFUSED, reason=reason)
        if steps.duration_s is not None:
            # Registered before sending: if the echo is lost the motion is still stopped when it runs out.
            self.safety.motion_started(entity_id, command, steps.duration_s, client_id, actor)
            self._holds.hold(entity_id, steps)
        elif entity.position_critical and command == Command.STOP:
            self.safety.motion_stopped(entity_id)
        try:
            result = await self._run(entity, steps, command_id, command, None if actor == SAFETY_ACTOR
                                     else client_id or actor)
        except CommandBusy as exc:
            self._audit(actor, command, entity_id, "busy", str(exc))
            raise
        detail = result.reason or note
        if steps.duration_s is not None:
            detail = f"{detail}; duration {steps.duration_s:g} s".lstrip("; ")
        self._audit(actor, command, entity_id, result.outcome.value, detail)
        return result

    async def execute_many(self, commands: Sequence[tuple[str, str, Mapping[str, Any] | None]], actor: str,
                           client_id: str | None = None) -> list[CommandResult | CommandError]:
        """Validate every command, then run them at once; each gets its result or its error (CommandBusy).

        InvalidBatch when any command is invalid or names no entity: then none of them runs.
        """
        for index, (entity_id, command, params) in enumerate(commands):
            entity = self.entities.get(entity_id)
            try:
                if entity is None:
                    raise UnknownEntity(entity_id)
                if params is not None and not isinstance(params, Mapping):
                    raise InvalidCommand("parameters must be an object", field="params")
                plan(entity.config, command, params or {}, entity.state.values)
            except CommandError as exc:
                self._audit(actor, command, entity_id, "invalid", f"batch refused: {exc}")
                raise InvalidBatch(index, exc) from None

        async def one(entity_id: str, command: str, params: Mapping[str, Any] | None) -> CommandResult | CommandError:
            try:
                return await self._execute(entity_id, command, params, actor, client_id)
            except CommandError as exc:
                return exc

        return list(await asyncio.gather(*(one(*item) for item in commands)))

    async def stop_motion(self, entity_id: str, actor: str, reason: str) -> CommandResult:
        """Send stop to a position-critical entity (safety: duration ended, client gone, safe state)."""
        return await self._execute(entity_id, Command.STOP.value, {}, actor, None, note=reason)

    async def _run(self, entity: Entity, steps: Plan, command_id: str, command: str,
                   client: str | None) -> CommandResult:
        loop = asyncio.get_running_loop()
        sent_at = time.time()
        waiter = _Waiter(steps.expect, loop.create_future(), sent_at)
        entity.waiters.append(waiter)
        # A stop of a moving device goes in the stop lane. A motion frame is gated again when it leaves
        # the queue (the coach may have started to move meanwhile) and dropped if it waited too long.
        urgent = entity.position_critical and command == Command.STOP
        motion = command in MOTION_COMMANDS and entity.position_critical

        def gate() -> str | None:
            return self.safety.check(entity, command)

        sent: list[int] = []
        try:
            try:
                if not await self._send_plan(entity, steps, sent, client=client, urgent=urgent,
                                             gate=gate if motion else None,
                                             max_age_s=MOTION_FRAME_MAX_AGE_S if motion else None):
                    return CommandResult(command_id, entity.id, command, Outcome.REFUSED,
                                         reason="superseded by a newer command for this device before it was sent "
                                                "in full")
            except CanBusyError as exc:
                if not sent:  # nothing went out: the caller may simply try again
                    raise CommandBusy(str(exc), rate_limited=exc.rate_limited) from None
                return CommandResult(command_id, entity.id, command, Outcome.REFUSED,
                                     reason=f"could not transmit: {exc}")
            except TransmitRefused as exc:
                return CommandResult(command_id, entity.id, command, Outcome.REFUSED, reason=exc.reason)
            except (CanTransmitError, EncodeError, ValueError, KeyError) as exc:
                reason = f"could not transmit: {exc}"
                return CommandResult(command_id, entity.id, command, Outcome.REFUSED, reason=reason)
            self._holds.sent(entity.id)  # a held motion repeats its frame a full gap after this send
            deadline = loop.time() + self.command_timeout
            while not waiter.future.done():
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                await asyncio.wait([waiter.future], timeout=min(_ECHO_POLL_S, remaining))
                # An echo identical to the last status is dropped before decoding; its arrival still counts.
                if not waiter.future.done() and self._last_heard(entity) >= sent_at \
                        and matches(steps.expect, entity.state.values):
                    waiter.future.set_result(None)
        finally:
            entity.waiters.remove(waiter)
        if waiter.future.done():
            return CommandResult(command_id, entity.id, command, Outcome.CONFIRMED, state=dict(entity.state.values))
        return CommandResult(command_id, entity.id, command, Outcome.TIMED_OUT,
                             reason=f"no status from the device confirmed {command} within "
                                    f"{self.command_timeout:g} s")

    async def _send_plan(self, entity: Entity, steps: Plan, sent: list[int], *, client: str | None = None,
                         urgent: bool = False, gate: Gate | None = None, max_age_s: float | None = None) -> bool:
        """Send the plan's frames in order; False when a newer command for the entity superseded it.

        `sent` collects the identifier of every frame that went out; `client`, `urgent`, `gate` and
        `max_age_s` are the transmit queue's (the client counts once, on the first frame).

        No lock: a stop must never wait behind another command's pause. The check of the generation and
        the queueing of the next frame happen without a suspension in between (the CAN service queues
        synchronously, first in first out within a priority), so a superseded command sends nothing more.
        """
        entity.generation += 1
        mine = entity.generation
        if entity.followup is not None:  # a newer command replaces what the last one still had to send
            entity.followup.cancel()
            entity.followup = None
        last = len(steps.transmissions) - 1
        for index, step in enumerate(steps.transmissions):
            if index == last and index > 0 and steps.settle_s > 0:
                await asyncio.sleep(steps.settle_s)
            if entity.generation != mine:
                return False
            sent.append(await self.rvc.send(step.dgn, step.values, instance=step.instance, client=client,
                                            urgent=urgent, gate=gate, max_age_s=max_age_s))
            client = None  # one command counts once against the client's limit
        if steps.followup and entity.generation == mine:
            entity.followup = asyncio.get_running_loop().create_task(
                self._send_followup(entity, steps, mine), name=f"followup-{entity.id}")
        return True

    async def _send_followup(self, entity: Entity, steps: Plan, generation: int) -> None:
        await asyncio.sleep(steps.followup_after_s)
        for step in steps.followup:
            if entity.generation != generation:
                return
            try:
                await self.rvc.send(step.dgn, step.values, instance=step.instance)
            except (CanTransmitError, EncodeError, ValueError, KeyError) as exc:
                log.warning("%s: could not send the follow-up %s: %s", entity.id, step.values.get("command"), exc)
                return
        if entity.followup is asyncio.current_task():
            entity.followup = None

    def _audit(self, actor: str, action: str, target: str, result: str, reason: str) -> None:
        # Written in the background so the command path does not wait for the disk; stop() waits for it.
        self.spawn(self.persistence.audit(actor, action, target, result, reason))

    def spawn(self, work: Any) -> asyncio.Task[Any]:
        """Run a coroutine in the background, logging its failure; settle() waits for it."""
        async def guarded() -> Any:
            try:
                return await work
            except Exception:
                log.exception("background work of the entity manager failed")
                return None

        task = asyncio.get_running_loop().create_task(guarded())
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task


    # --- held manual motion (leveling) ------------------------------------------------------------

    async def _send_step(self, entity_id: str, step: Transmission) -> None:
        """One repetition of a held command of `entity_id` (ManualHold), gated again when it leaves."""
        entity = self.entities[entity_id]
        motion = self.safety.motions.get(entity_id)
        command = motion.command if motion is not None else Command.STOP.value

        def gate() -> str | None:
            return self.safety.check(entity, command) if entity_id in self.safety.motions else "not held"

        await self.rvc.send(step.dgn, step.values, instance=step.instance, gate=gate,
                            max_age_s=MOTION_FRAME_MAX_AGE_S)

    def _still_held(self, entity_id: str) -> bool:
        """A held motion goes on while it is registered (not stopped, not run out) and still allowed."""
        entity = self.entities.get(entity_id)
        motion = self.safety.motions.get(entity_id)
        return entity is not None and motion is not None and self.safety.check(entity, motion.command) is None

def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()
