"""The realtime hub (core service "realtime"): entity state to WebSocket clients, commands back.

Protocol of /api/v2/ws (JSON text messages):

- client `{"type": "subscribe", "all": true}`, or with `"entities"`, `"types"` and/or `"areas"` lists
  (an entity must match every list given) -> server `{"type": "snapshot", "entities": [...], "safety"}`,
  then `{"type": "update", "entity_id", "values", "source": {"dgn", "source_address"}, "timestamp"}` for
  every change. Subscribing again replaces the subscription and sends a new snapshot.
- server, to every client whatever it subscribed to, when emergency stop, safe state, vehicle state or
  the interlocks change: `{"type": "safety", ...}` with the fields of GET /api/v2/safety.
- client `{"type": "command", "id", "entity_id", "command", ...params}` -> server
  `{"type": "command_result", "id", "command_id", "status", "state" | "reason"}`.
- server, to every client: events of features, e.g. `{"type": "diagnostics", "codes": [...]}` when
  a trouble code changes.
- client `{"type": "unsubscribe"}`, `{"type": "ping"}`; anything malformed -> `{"type": "error",
  "reason"}` and the socket stays open.

The event bus handler runs in the CAN receive path, so it only does dict work: it merges the update
into the client's pending updates (one per entity, so a client's backlog is bounded by the number of
entities it watches) and wakes the client's sender task. An update is built and JSON-encoded once for
every client that takes it as it is, and a merge into an update still waiting once for every client
that had the same update waiting. The sender sends the first change of an
entity at once and coalesces later ones for `COALESCE_S` (session.py), so a chatty dimmer ramp costs a client at
most ~100 messages per second per entity without delaying isolated changes. A client whose backlog
overflows is resynchronised with a fresh snapshot; one whose socket does not take a message within
`SEND_TIMEOUT_S`, or who lets its control messages pile up, is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from typing import Any, Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from coachiq.core.access import Role, actor_of_scope, refusal
from coachiq.core.events import EventBus
from coachiq.core.jsonlimits import loads_limited
from coachiq.core.metrics import Metrics
from coachiq.core.service import Health, Status
from coachiq.core.tasks import cancel_all, sleep_aligned
from coachiq.entities.model import (
    CommandBusy,
    CommandResult,
    EntityType,
    EntityUpdate,
    InvalidCommand,
    Outcome,
    UnknownEntity,
)
from coachiq.entities.topics import ENTITY_UPDATE, SAFETY_STATE
from coachiq.realtime.can_stream import CanStream
from coachiq.realtime.session import ClientSession, EncodedUpdate
from coachiq.rvc.service import RvcProtocolService

log = logging.getLogger(__name__)

__all__ = ["EntityLike", "EntitySource", "RealtimeHub"]

SEND_TIMEOUT_S = 5.0
MAX_MESSAGE_BYTES = 65_536
_TYPES = frozenset(t.value for t in EntityType)
_COMMAND_KEYS = frozenset({"type", "id", "entity_id", "command", "params"})


class EntityLike(Protocol):
    """What the hub reads of an entity."""

    @property
    def id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def area(self) -> str | None: ...
    def to_json(self) -> dict[str, Any]: ...


class EntitySource(Protocol):
    """What the hub needs of the entity manager."""

    @property
    def entities(self) -> Mapping[str, EntityLike]: ...

    async def execute(self, entity_id: str, command: str, params: dict[str, Any], actor: str,
                      client_id: str | None = None) -> CommandResult: ...


class ClientWatcher(Protocol):
    """What the hub needs of the motion supervisor: the safety view, and to stop motion a departed client
    started."""

    def client_gone(self, client_id: str) -> object: ...

    def snapshot(self) -> dict[str, Any]: ...


AuditWriter = Callable[[str, str, str, str, str], Coroutine[Any, Any, None]]
"""Writes one audit entry: actor, action, target, result, reason."""

REFUSAL_AUDIT_INTERVAL_S = 10.0
"""A connection's refused commands are written at most once in this time; the entry counts the others, so a
client repeating a refused command cannot flood the database."""


class RealtimeHub:
    """Streams entity updates to subscribed WebSocket clients and runs their commands."""

    name = "realtime"

    def __init__(self, events: EventBus, entities: EntitySource, safety: ClientWatcher,
                 rvc: RvcProtocolService, metrics: Metrics | None = None, audit: AuditWriter | None = None) -> None:
        """`entities` gives snapshots and runs commands; `safety` (the motion supervisor) gives the
        safety view and is told when a client goes away; `audit` writes refused commands to the audit log."""
        self.audit = audit
        self.events = events
        self.can_stream = CanStream(events, rvc)
        self.entities = entities
        self.safety = safety
        self.clients: dict[str, ClientSession] = {}
        self._ids = itertools.count(1)
        self._unsubscribe: Callable[[], None] | None = None
        self._unsubscribe_safety: Callable[[], None] | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self.updates_seen = 0
        self.resyncs = 0
        self.held_updates = 0  # updates sent late on purpose, at the end of their coalescing window
        self.dropped_clients = 0
        self.handler_errors = 0
        if metrics is not None:
            metrics.registry.register(_HubCollector(self))

    # --- service --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen to entity updates and watch for clients that stopped reading."""
        self._unsubscribe = self.events.subscribe(ENTITY_UPDATE, self._on_update)
        self._unsubscribe_safety = self.events.subscribe(SAFETY_STATE, self._on_safety)
        self._watchdog = asyncio.create_task(self._watch_sends(), name="ws-watchdog")

    async def _watch_sends(self) -> None:
        while True:
            await sleep_aligned(min(1.0, SEND_TIMEOUT_S / 4))
            now = time.monotonic()
            for client in list(self.clients.values()):
                since = client.sending_since
                if since is not None and now - since > SEND_TIMEOUT_S and client.sender is not None:
                    client.drop(f"a message was not taken within {SEND_TIMEOUT_S:g} s")
                    client.sender.cancel()  # it waits on the socket; the session then closes it

    async def stop(self) -> None:
        """Stop listening and close every client."""
        if self._watchdog is not None:
            await cancel_all([self._watchdog])
            self._watchdog = None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._unsubscribe_safety is not None:
            self._unsubscribe_safety()
            self._unsubscribe_safety = None
        for client in list(self.clients.values()):
            client.drop("the server is stopping")
            with contextlib.suppress(Exception):
                await client.websocket.close(1001)
        await self.can_stream.close_all()

    async def drop_ended(self, ended: Callable[[Mapping[str, Any]], bool], reason: str) -> int:
        """Close every WebSocket (entity and CAN streams) for which `ended(scope)` is true, so that a
        session or token that was revoked or expired stops seeing the coach; returns how many."""
        count = 0
        for client in list(self.clients.values()):
            if ended(client.websocket.scope):
                client.drop(reason)
                count += 1
        for can_client in list(self.can_stream.clients.values()):
            if ended(can_client.websocket.scope):
                count += 1
                with contextlib.suppress(Exception):
                    await can_client.websocket.close(1008, reason[:120])
        return count

    async def health(self) -> Health:
        """Healthy while subscribed to entity updates; reports clients, drops and resyncs."""
        if self._unsubscribe is None or not self.events.has_subscribers(ENTITY_UPDATE):
            return Health(Status.STOPPED, "not listening to entity updates")
        if self._watchdog is None or self._watchdog.done():
            return Health(Status.UNHEALTHY, "the watchdog of stalled clients stopped")
        return Health(Status.HEALTHY, f"{len(self.clients)} WebSocket clients, {self.updates_seen} updates, "
                      f"{self.held_updates} held to coalesce, {self.resyncs} resyncs, "
                      f"{self.dropped_clients} clients dropped",
                      {"clients": len(self.clients), "updates": self.updates_seen, "held_updates": self.held_updates,
                       "resyncs": self.resyncs, "dropped_clients": self.dropped_clients})

    # --- bus path -------------------------------------------------------------------------------

    def _on_update(self, update: EntityUpdate) -> None:
        self.updates_seen += 1
        if not self.clients:
            return
        entity_id = update.entity_id
        shared: EncodedUpdate | None = None
        merges: dict[int, tuple[EncodedUpdate, EncodedUpdate]] = {}  # id(pending update) -> (it, merged)
        for client in self.clients.values():
            if not client.closed and client.wants(entity_id):
                if shared is None:
                    source = update.source
                    shared = EncodedUpdate({"type": "update", "entity_id": entity_id, "values": dict(update.values),
                                      "source": None if source is None else
                                      {"dgn": source.dgn, "source_address": source.source_address},
                                      "timestamp": update.timestamp})
                client.offer(shared, merges)

    def _on_safety(self, snapshot: dict[str, Any]) -> None:
        # Every client gets it, whatever it subscribed to: emergency stop and safe state concern them all.
        message = {"type": "safety", **snapshot}
        for client in self.clients.values():
            if client.closed:
                continue
            if client.control and client.control[-1].get("type") == "safety":
                client.control[-1] = message  # not sent yet: the newer state replaces it
            else:
                client.say(message)

    # --- snapshots ------------------------------------------------------------------------------

    def snapshot(self, ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Every entity (or those in `ids`) as its JSON shape."""
        entities = self.entities.entities
        if ids is None:
            return [entity.to_json() for entity in entities.values()]
        return [entities[i].to_json() for i in sorted(ids) if i in entities]

    def select_ids(self, entity_ids: list[str] | None, types: list[str] | None,
                   areas: list[str] | None) -> frozenset[str]:
        """Ids of the entities matching every list given."""
        wanted_ids = None if entity_ids is None else set(entity_ids)
        wanted_types = None if types is None else set(types)
        wanted_areas = None if areas is None else set(areas)
        return frozenset(
            entity.id for entity in self.entities.entities.values()
            if (wanted_ids is None or entity.id in wanted_ids)
            and (wanted_types is None or str(entity.type) in wanted_types)
            and (wanted_areas is None or entity.area in wanted_areas))

    # --- a client session -----------------------------------------------------------------------

    def broadcast(self, message: dict[str, Any]) -> None:
        """Send `message` to every connected client, whatever it subscribed to (feature events such as
        `{"type": "diagnostics", ...}`); a client that does not read is dropped as for any reply."""
        for client in list(self.clients.values()):
            if not client.closed:
                client.say(message)

    async def serve(self, websocket: WebSocket) -> None:
        """Run one client's session until it disconnects or is dropped."""
        await websocket.accept()
        client = ClientSession(self, websocket, f"ws-{next(self._ids)}")
        self.clients[client.id] = client
        sender = client.sender = asyncio.create_task(self._run_sender(client), name=f"ws-sender-{client.id}")
        receiver = asyncio.create_task(self._receive(client), name=f"ws-receiver-{client.id}")
        try:
            await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            client.closed = True
            if client.timer is not None:
                client.timer.cancel()
            del self.clients[client.id]
            # Motion this client started must not outlive it. Done before the first await here, so that
            # a second cancellation of this handler (at shutdown) cannot skip it.
            try:
                self.safety.client_gone(client.id)
            except Exception:
                log.exception("stopping the motion of WebSocket client %s failed", client.id)
            await cancel_all([sender, receiver])
            if websocket.application_state is not WebSocketState.DISCONNECTED:
                with contextlib.suppress(Exception):
                    await websocket.close(1008 if client.dropped_reason else 1000, client.dropped_reason[:120])

    async def _run_sender(self, client: ClientSession) -> None:
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await client.run_sender()

    async def _receive(self, client: ClientSession) -> None:
        websocket = client.websocket
        while not client.closed:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                client.say({"type": "error", "reason": "binary messages are not supported: send JSON text"})
                continue
            self.handle(client, text)

    def handle(self, client: ClientSession, text: str) -> None:
        """Act on one message from a client; problems are answered with an error message."""
        if len(text) > MAX_MESSAGE_BYTES:
            client.say({"type": "error", "reason": f"message too long: at most {MAX_MESSAGE_BYTES} bytes"})
            return
        try:
            message = loads_limited(text)
        except ValueError as exc:  # not JSON, or nested too deep to parse safely
            client.say({"type": "error", "reason": str(exc)})
            return
        if not isinstance(message, dict):
            client.say({"type": "error", "reason": "a message must be a JSON object with a \"type\""})
            return
        kind = message.get("type")
        if kind == "subscribe":
            self._subscribe(client, message)
        elif kind == "unsubscribe":
            client.subscribed = False
            client.clear_pending()
            client.say({"type": "unsubscribed"})
        elif kind == "command":
            self._command(client, message)
        elif kind == "ping":
            client.say({"type": "pong", "id": message.get("id")})
        else:
            client.say({"type": "error", "id": message.get("id"),
                        "reason": f"unknown message type {kind!r}: expected subscribe, unsubscribe, command "
                                  "or ping"})

    def _subscribe(self, client: ClientSession, message: dict[str, Any]) -> None:
        lists: dict[str, list[str] | None] = {}
        for key in ("entities", "types", "areas"):
            value = message.get(key)
            if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
                client.say({"type": "error", "reason": f"'{key}' must be a list of strings"})
                return
            lists[key] = value
        every = message.get("all", False)
        if not isinstance(every, bool):
            client.say({"type": "error", "reason": "'all' must be true or false"})
            return
        if not every and all(v is None for v in lists.values()):
            client.say({"type": "error", "reason": "subscribe needs \"all\": true or an \"entities\", \"types\" "
                                                   "or \"areas\" list"})
            return
        unknown_types = sorted(set(lists["types"] or ()) - _TYPES)
        if unknown_types:
            client.say({"type": "error", "reason": f"unknown entity types {unknown_types}: known are "
                                                   f"{sorted(_TYPES)}"})
            return
        known = self.entities.entities
        unknown_ids = sorted(i for i in lists["entities"] or () if i not in known)
        if unknown_ids:
            client.say({"type": "error", "reason": f"unknown entities {unknown_ids}"})
            return
        client.ids = None if every else self.select_ids(lists["entities"], lists["types"], lists["areas"])
        client.subscribed = True
        client.clear_pending()
        client.say({"type": "snapshot"})  # filled in by the sender when it goes out

    def _command(self, client: ClientSession, message: dict[str, Any]) -> None:
        request_id = message.get("id")
        entity_id = message.get("entity_id")
        command = message.get("command")
        if not isinstance(entity_id, str) or not isinstance(command, str):
            client.say({"type": "command_result", "id": request_id, "status": "invalid",
                        "reason": "a command needs \"entity_id\" and \"command\" strings"})
            return
        params = {k: v for k, v in message.items() if k not in _COMMAND_KEYS}
        nested = message.get("params")
        if nested is not None:
            if not isinstance(nested, dict):
                client.say({"type": "command_result", "id": request_id, "status": "invalid",
                            "reason": "\"params\" must be an object"})
                return
            params.update(nested)
        refused = refusal(client.websocket.scope, Role.OPERATOR, "control devices")
        if refused is not None:
            client.say({"type": "command_result", "id": request_id, "entity_id": entity_id, "status": "forbidden",
                        "reason": refused[1]})
            self._audit_refusal(client, f"WS {command} {entity_id}", refused[1])
            return
        task = asyncio.create_task(self._run_command(client, request_id, entity_id, command, params),
                                   name=f"ws-command-{client.id}")
        # Kept until done: a command in flight finishes (and is audited) even if its client leaves.
        client.tasks.add(task)
        task.add_done_callback(client.tasks.discard)

    def _audit_refusal(self, client: ClientSession, target: str, reason: str) -> None:
        """Write a refused command to the audit log, at most once per REFUSAL_AUDIT_INTERVAL_S per connection."""
        if self.audit is None:
            return
        now = time.monotonic()
        if client.refusal_audited_at is not None and now - client.refusal_audited_at < REFUSAL_AUDIT_INTERVAL_S:
            client.refusals_unwritten += 1
            return
        if client.refusals_unwritten:
            reason = f"{reason} ({client.refusals_unwritten} more refusals on this connection since the last entry)"
        client.refusal_audited_at, client.refusals_unwritten = now, 0
        actor = actor_of_scope(client.websocket.scope, f"websocket:{client.id}")
        task = asyncio.create_task(self.audit(actor, "access.refused", target[:200], "refused", reason),
                                   name=f"ws-audit-{client.id}")
        client.tasks.add(task)
        task.add_done_callback(client.tasks.discard)

    async def _run_command(self, client: ClientSession, request_id: Any, entity_id: str, command: str,
                           params: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"type": "command_result", "id": request_id, "entity_id": entity_id}
        try:
            actor = actor_of_scope(client.websocket.scope, f"websocket:{client.id}")
            result = await self.entities.execute(entity_id, command, params, actor=actor,
                                                 client_id=client.id)
        except UnknownEntity as exc:
            reply.update(status="not_found", reason=str(exc) or f"no entity '{entity_id}'")
        except CommandBusy as exc:
            reply.update(status="busy", reason=str(exc))
        except InvalidCommand as exc:
            reply.update(status="invalid", reason=str(exc))
            field = getattr(exc, "field", None)
            if field:
                reply["field"] = field
        except Exception:
            log.exception("command %s on %s from %s failed", command, entity_id, client.id)
            reply.update(status="error", reason="the command failed unexpectedly; the details are in the log")
        else:
            reply.update(command_id=result.command_id, status=result.outcome.value)
            if result.outcome is Outcome.CONFIRMED:
                reply["state"] = result.state
            else:
                reply["reason"] = result.reason or result.outcome.value
        if not client.closed:
            client.say(reply)



class _HubCollector:
    """Prometheus collector reading the hub's counters at scrape time (nothing per update)."""

    def __init__(self, hub: RealtimeHub) -> None:
        self.hub = hub

    def describe(self) -> Iterable[Metric]:
        """Described by collecting: the values are plain counters read at scrape time."""
        return list(self.collect())

    def collect(self) -> Iterator[Metric]:
        """Clients connected now, and counters since start."""
        hub = self.hub
        yield GaugeMetricFamily("coachiq_ws_clients", "WebSocket clients connected to /api/v2/ws.",
                                value=len(hub.clients))
        yield CounterMetricFamily("coachiq_ws_entity_updates", "Entity updates the hub received.",
                                  value=hub.updates_seen)
        yield CounterMetricFamily("coachiq_ws_updates_held", "Updates sent at the end of their coalescing "
                                  "window rather than at once.", value=hub.held_updates)
        yield CounterMetricFamily("coachiq_ws_resyncs", "Clients resynchronised with a snapshot.", value=hub.resyncs)
        yield CounterMetricFamily("coachiq_ws_dropped_clients", "Clients dropped for not keeping up.",
                                  value=hub.dropped_clients)
