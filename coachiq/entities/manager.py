"""The entity manager core service: coach entities, their state from the bus, and commands to them.

Receiving: every decoded frame ("rvc.frame") is looked up by (DGN, instance) in an index built once
from the mapping; a frame nobody maps only bumps a counter of unmapped traffic. A mapped status frame
is folded into its entity's state; a change is published as one EntityUpdate on "entity.update",
persisted write-behind and sampled into history.

Commanding (commanding.py): validate -> safety gate -> encode and send once -> wait for the device's own
status echo to show the requested state. State is only ever what the devices report.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from coachiq.can.interface import CanInterfaceService
from coachiq.core.errors import ConfigError
from coachiq.core.events import EventBus
from coachiq.core.service import Health, ServiceStartError, Status
from coachiq.core.tasks import cancel_all, sleep_aligned
from coachiq.entities.commanding import ACKNOWLEDGMENT_DGN, CommandRunner, PlanAdapter
from coachiq.entities.commands import matches
from coachiq.entities.entity import Entity
from coachiq.entities.mapping import CoachMapping, EntityConfig, load_coach
from coachiq.entities.model import CommandError, CommandResult, EntityUpdate, InvalidCommand, Source, UnknownEntity
from coachiq.entities.motions import MotionLedger, SafetyGate
from coachiq.entities.profiles import fold
from coachiq.entities.states import known_values
from coachiq.entities.topics import ENTITY_UPDATE, FRAME
from coachiq.entities.unmapped import row
from coachiq.persistence.store import PersistenceService
from coachiq.rvc.receive import RvcFrame, instance_bytes
from coachiq.rvc.service import RvcProtocolService
from coachiq.settings import Settings

__all__ = ["Entity", "EntityManager", "InvalidCommand", "UnknownEntity"]

log = logging.getLogger(__name__)

MAX_UNMAPPED = 1000  # distinct (DGN, instance, source) kept; a flood of junk cannot grow memory
_CACHED_LISTS = 32  # serialised entity lists kept (one per combination of filters asked for)


@dataclass(slots=True)
class _Unmapped:
    dgn: int
    name: str | None
    instance: int | None
    source_address: int
    count: int = 0
    last_values: Mapping[str, Any] = field(default_factory=dict)


class EntityManager:
    """Core service "entities"."""

    name = "entities"

    def __init__(self, settings: Settings, events: EventBus, can: CanInterfaceService, rvc: RvcProtocolService,
                 persistence: PersistenceService, gate: SafetyGate, mapping: CoachMapping | None = None) -> None:
        """`gate` decides whether a command may go out (the state manager); `mapping` None: load
        settings.coach (+ settings.coach_file) at start."""
        self.settings = settings
        self.events = events
        self.can = can
        self.rvc = rvc
        self.persistence = persistence
        self.safety = gate
        self.motions = MotionLedger()  # read by the motion supervisor
        self.mapping = mapping
        self.history_resolution = settings.history_resolution
        self.ring_size = settings.history_ring
        self.entities: dict[str, Entity] = {}
        self._index: dict[int, dict[int | None, list[Entity]]] = {}
        self._instance_byte: dict[int, int] = {}
        self._unmapped: dict[tuple[int, int | None, int], _Unmapped] = {}
        self._unsubscribe: Callable[[], None] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._lists: dict[tuple[str | None, str | None, str | None], bytes] = {}
        self.commands = CommandRunner(self.entities, rvc, gate, self.motions, settings.command_timeout,
                                      self._audit, self._last_heard)

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
        self.entities.clear()  # the same mapping the command runner holds
        self._lists.clear()
        self.entities.update((cid, Entity(config, self.ring_size)) for cid, config in self.mapping.entities.items())
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
        self._unsubscribe = self.events.subscribe(FRAME, self._on_frame)
        self._tasks.append(asyncio.create_task(self._stale_loop(), name="entities-stale"))
        log.info("coach %s: %d entities", self.mapping.coach, len(self.entities))

    async def stop(self) -> None:
        """Stop following the bus; pending audit entries are written first."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        await cancel_all(self._tasks)
        await self.commands.holds.stop()
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

    def list_json(self, type: str | None = None, area: str | None = None, capability: str | None = None) -> bytes:
        """`{"entities": [...]}` of select(type, area, capability) as JSON bytes.

        Kept until an entity changes: each entity keeps its own serialised form until its state changes,
        so a list after a change re-serialises only what changed.
        """
        key = (type, area, capability)
        body = self._lists.get(key)
        if body is None:
            body = b'{"entities":[' + b",".join(e.json_bytes() for e in self.select(type, area, capability)) + b"]}"
            if len(self._lists) >= _CACHED_LISTS:
                self._lists.clear()
            self._lists[key] = body
        return body

    def _changed(self, entity: Entity) -> None:
        entity.json = None
        self._lists.clear()

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
        if frame.dgn == ACKNOWLEDGMENT_DGN:  # an answer to a command, not a device's status
            self.commands.on_acknowledgment(frame.interface, frame.can_id, frame.source_address,
                                            frame.decoded.payload)
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
            self._changed(entity)
            published = dict(changes)
            if became_available:
                published = {**state.values, "available": True}
            self.events.publish(ENTITY_UPDATE, EntityUpdate(entity.id, published, source, now))
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
        self._lists.clear()

        def remove() -> None:
            if self.entities.get(config.id) is entity:
                if entity.state.available:
                    entity.state.available = False
                    self.events.publish(ENTITY_UPDATE, EntityUpdate(config.id, {"available": False}, None,
                                                                   time.time()))
                del self.entities[config.id]
                self._lists.clear()

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
        pipeline = self.rvc.receiver
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
                    self._changed(entity)
                    gone.append(entity.id)
                    self.events.publish(ENTITY_UPDATE, EntityUpdate(entity.id, {"available": False}, None, now))
            elif entity.heard_keys and not state.restored \
                    and now - self._last_heard(entity) <= entity.config.stale_s:
                # Back after a silence with the same payload as before: the receive filter dropped it
                # undecoded, but the values we hold are exactly what it says.
                state.available = True
                self._changed(entity)
                self.events.publish(ENTITY_UPDATE, EntityUpdate(entity.id, {**state.values, "available": True},
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
            self._changed(entity)

    # --- commands (commanding.py) ----------------------------------------------------------------

    def add_plan_adapter(self, adapter: PlanAdapter) -> Callable[[], None]:
        """Let `adapter(config, command, plan)` change every plan from now on (a feature for a family of
        devices that departs from plain RV-C); returns a function that removes it."""
        return self.commands.add_plan_adapter(adapter)

    async def execute(self, entity_id: str, command: str, params: Mapping[str, Any] | None, actor: str,
                      client_id: str | None = None) -> CommandResult:
        """Validate, gate, send once and wait for the echo.

        Raises UnknownEntity or InvalidCommand; returns confirmed (with the confirmed state), timed_out
        or refused (with the reason; safety refusals included).
        """
        return await self.commands.execute(entity_id, command, params, actor, client_id)

    async def execute_many(self, commands: Sequence[tuple[str, str, Mapping[str, Any] | None]], actor: str,
                           client_id: str | None = None) -> list[CommandResult | CommandError]:
        """Validate every command, then run them at once; each gets its result or its error (CommandBusy).

        InvalidBatch when any command is invalid or names no entity: then none of them runs.
        """
        return await self.commands.execute_many(commands, actor, client_id)

    async def stop_motion(self, entity_id: str, actor: str, reason: str) -> CommandResult:
        """Send stop to a position-critical entity (safety: duration ended, client gone, safe state)."""
        return await self.commands.stop_motion(entity_id, actor, reason)

    # --- background work ----------------------------------------------------------------------------

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


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()
